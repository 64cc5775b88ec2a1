"""Backgrounds with real OpenCV: pictures cached per size, colour, none, mask-aware blur, video."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import vcam.backgrounds as backgrounds
from vcam.backgrounds import BackgroundError, BackgroundProvider, gallery
from vcam.config import BackgroundConfig, MaskConfig
from vcam.images import BACKGROUND_PATHS, cover_crop, read_rgb
from vcam.mask_refiner import MaskRefiner

H, W = 96, 128


@pytest.fixture
def frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.fixture
def mask() -> np.ndarray:
    m = np.zeros((H, W), np.float32)
    m[30:, 40:90] = 1.0
    return m


def test_image_is_cover_cropped_once_per_size(frame, mask, monkeypatch):
    calls = []

    def counting_cover_crop(image, size):
        calls.append(size)
        return cover_crop(image, size)

    monkeypatch.setattr(backgrounds, "cover_crop", counting_cover_crop)
    provider = BackgroundProvider(BackgroundConfig(kind="image"))  # first bundled picture
    first = provider(frame, mask)
    second = provider(frame, mask)
    assert second is first and calls == [(W, H)]
    assert first.shape == (H, W, 3) and first.dtype == np.uint8 and first.flags.c_contiguous
    assert not first.flags.writeable  # the cache cannot be spoiled by a caller
    expected = cover_crop(read_rgb(next(iter(BACKGROUND_PATHS.values()))), (W, H))
    np.testing.assert_array_equal(first, expected)

    small = provider(frame[:48, :80], mask[:48, :80])
    assert small.shape == (48, 80, 3) and calls == [(W, H), (80, 48)]
    assert provider(frame, mask) is first


def test_image_of_any_aspect(tmp_path, frame, mask):
    tall = np.zeros((300, 40, 3), np.uint8)
    tall[140:160] = (255, 255, 255)
    path = tmp_path / "tall.png"
    cv2.imwrite(str(path), tall)
    out = BackgroundProvider(BackgroundConfig(kind="image", path=str(path)))(frame, mask)
    assert out.shape == (H, W, 3)
    assert out[H // 2, W // 2].min() > 200  # the centre is kept, nothing is stretched
    assert out[0].max() == 0


def test_colour_and_none(frame, mask):
    colour = BackgroundProvider(BackgroundConfig(kind="color", color=(10, 20, 30)))
    out = colour(frame, mask)
    assert out.shape == (H, W, 3) and (out.reshape(-1, 3) == (10, 20, 30)).all()
    assert colour(frame, mask) is out
    assert BackgroundProvider(BackgroundConfig(kind="none"))(frame, mask) is frame


def test_blur_does_not_spread_the_person():
    # A bright red person on a plain grey wall.
    frame = np.full((H, W, 3), 128, np.uint8)
    person = np.zeros((H, W), np.float32)
    person[20:, 44:84] = 1.0
    frame[person > 0] = (255, 0, 0)
    provider = BackgroundProvider(BackgroundConfig(kind="blur", blur_strength=1.0))
    out = provider(frame, person)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    # Just outside the person, where a plain blur would glow red, the wall stays grey.
    ring = np.zeros((H, W), bool)
    ring[14:, 38:90] = True
    ring[person > 0] = False
    assert np.abs(out[ring].astype(int) - 128).max() <= 6
    # A plain blur of the same frame does glow there (what the test guards against).
    naive = cv2.GaussianBlur(frame, (0, 0), 0.06 * H)
    assert np.abs(naive[ring].astype(int) - 128).max() > 30


@pytest.mark.parametrize("size", [(480, 640), (720, 1280), (481, 643)])
def test_blur_with_the_refiners_matte_matches_the_float_mask(size):
    # At camera sizes the blur works on halvings of the frame and takes the refiner's own
    # low-resolution mask; the picture is the one the float mask gives, and still no glow.
    h, w = size
    frame = np.full((h, w, 3), 128, np.uint8)
    frame[::6] = 90  # a striped wall
    person = np.zeros((h, w, 3), np.uint8)
    cv2.ellipse(person, (w // 2, h), (w // 5, h * 3 // 4), 0, 0, 360, (1, 1, 1), -1)
    inside = person[..., 0] > 0
    frame[inside] = (255, 0, 0)
    matte = MaskRefiner(MaskConfig(refine="none", smoothing=0.0)).refine(
        inside.astype(np.float32), frame)
    provider = BackgroundProvider(BackgroundConfig(kind="blur", blur_strength=0.5))
    with_matte = provider(frame, matte)
    with_float = provider(frame, matte.to_float())
    assert with_matte.shape == frame.shape and with_matte.dtype == np.uint8
    assert np.abs(with_matte.astype(int) - with_float).mean() < 1.0
    ring = cv2.dilate(inside.view(np.uint8), np.ones((15, 15), np.uint8)).view(bool) & ~inside
    assert np.abs(with_matte[ring].astype(int) - 122).max() <= 6  # the wall's mean, not red
    assert with_matte[: h // 4].std() < frame[: h // 4].std() / 5


def test_blur_blurs_the_real_background(mask):
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:, ::8] = 255  # fine stripes on the wall
    out = BackgroundProvider(BackgroundConfig(kind="blur", blur_strength=0.5))(frame, mask)
    wall = out[:25, :]
    assert wall.std() < frame[:25].std() / 5
    # Strength 0 is no blur.
    sharp = BackgroundProvider(BackgroundConfig(kind="blur", blur_strength=0.0))
    assert sharp(frame, mask) is frame


def test_missing_file_keeps_the_previous_background(tmp_path, frame, mask):
    provider = BackgroundProvider(BackgroundConfig(kind="color", color=(1, 2, 3)))
    before = provider(frame, mask)
    missing = tmp_path / "missing.jpg"
    with pytest.raises(BackgroundError, match=re.escape(str(missing))) as info:
        provider.set_config(BackgroundConfig(kind="image", path=str(missing)))
    assert isinstance(info.value, ValueError)
    assert provider.config.kind == "color"
    np.testing.assert_array_equal(provider(frame, mask), before)

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a picture")
    with pytest.raises(BackgroundError, match=re.escape(str(corrupt))):
        provider.set_config(BackgroundConfig(kind="image", path=str(corrupt)))
    with pytest.raises(BackgroundError, match=re.escape(str(corrupt))):
        provider.set_config(BackgroundConfig(kind="video", path=str(corrupt)))
    np.testing.assert_array_equal(provider(frame, mask), before)

    provider.set_config(BackgroundConfig(kind="image", path=str(BACKGROUND_PATHS["storm"])))
    assert provider(frame, mask).mean() != before.mean()
    with pytest.raises(BackgroundError):
        BackgroundProvider(BackgroundConfig(kind="image", path=str(missing)))


def _write_video(path: Path, levels: list[int], fps: float = 10.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for level in levels:
        writer.write(np.full((48, 64, 3), level, np.uint8))
    writer.release()


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_video_loops_at_its_own_rate(tmp_path, frame, mask):
    levels = [20, 70, 120, 170, 220]
    path = tmp_path / "bg.avi"
    _write_video(path, levels, fps=10.0)
    clock = _FakeClock()
    with BackgroundProvider(BackgroundConfig(kind="video", path=str(path)), clock=clock) as bg:
        seen = []
        for _ in range(12):
            out = bg(frame, mask)
            assert out.shape == (H, W, 3) and out.dtype == np.uint8
            seen.append(round(float(out.mean())))
            clock.now += 0.1  # one video frame per call
        # Called twice within one video frame: the same frame, not the next.
        assert bg(frame, mask) is bg(frame, mask)
    expected = [levels[i % len(levels)] for i in range(12)]
    assert all(abs(a - b) <= 4 for a, b in zip(seen, expected)), seen


def test_gallery_lists_bundled_and_system_pictures(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/one.jpg", "a/deep/two.PNG", "a/notes.txt", "three.jpeg"):
        (tmp_path / name).write_bytes(b"")
    found = gallery(roots=(tmp_path, tmp_path / "absent"))
    bundled = [p for p in BACKGROUND_PATHS.values()]
    assert found[: len(bundled)] == bundled
    names = sorted(p.name for p in found[len(bundled) :])
    assert names == ["one.jpg", "three.jpeg", "two.PNG"]
    assert len(gallery(roots=(tmp_path,), limit=1)) == len(bundled) + 1
    assert BackgroundProvider.gallery()[: len(bundled)] == bundled


def test_background_config_validation_names_the_field():
    with pytest.raises(ValueError, match="kind must be one of 'image', 'video', 'blur'"):
        BackgroundConfig(kind="beach")
    with pytest.raises(ValueError, match=r"color must be three integers \(R, G, B\) in \[0, 255\]"):
        BackgroundConfig(color=(0, 300, 0))
    with pytest.raises(ValueError, match=r"blur_strength must be a number in \[0, 1\], got 2"):
        BackgroundConfig(blur_strength=2)
    with pytest.raises(ValueError, match="path must name a video file"):
        BackgroundConfig(kind="video")
    assert BackgroundConfig(color=[1, 2, 3]).color == (1, 2, 3)
