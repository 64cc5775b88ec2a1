"""Compositing and background loading, with real OpenCV."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from vcam.compositor import composite, composite_matte, load_background
from vcam.images import ASSETS_DIR, BACKGROUND_PATHS, PORTRAIT_PATH
from vcam.mask_refiner import Matte


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    background = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return frame, background


def test_mask_one_gives_frame_mask_zero_gives_background_exactly(images):
    frame, background = images
    mask = np.zeros((48, 64), np.float32)
    mask[:, :32] = 1.0
    out = composite(frame, background, mask)
    assert out.dtype == np.uint8 and out.shape == frame.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out[:, :32], frame[:, :32])
    np.testing.assert_array_equal(out[:, 32:], background[:, 32:])


def test_extreme_values_are_exact():
    frame = np.full((4, 4, 3), 255, np.uint8)
    background = np.zeros((4, 4, 3), np.uint8)
    np.testing.assert_array_equal(composite(frame, background, np.ones((4, 4), np.float32)), frame)
    np.testing.assert_array_equal(
        composite(frame, background, np.zeros((4, 4), np.float32)), background
    )
    np.testing.assert_array_equal(
        composite(background, frame, np.ones((4, 4), np.float32)), background
    )


def test_soft_mask_matches_the_formula(images):
    frame, background = images
    mask = np.random.default_rng(1).random((48, 64), dtype=np.float32)
    expected = mask[..., None] * frame + (1.0 - mask[..., None]) * background
    out = composite(frame, background, mask)
    # Rounded to nearest, up to OpenCV's float32 arithmetic (a few thousandths of a level).
    assert np.abs(out.astype(np.float64) - expected).max() <= 0.51


def test_mask_layouts_and_float64(images):
    frame, background = images
    mask = np.random.default_rng(2).random((48, 64)).astype(np.float32)
    ref = composite(frame, background, mask)
    np.testing.assert_array_equal(composite(frame, background, mask[..., None]), ref)
    np.testing.assert_array_equal(composite(frame, background, mask.astype(np.float64)), ref)
    # Non-contiguous inputs are fine.
    big = np.zeros((48, 128, 3), np.uint8)
    big[:, ::2] = frame
    np.testing.assert_array_equal(composite(big[:, ::2], background, mask), ref)


def test_inputs_are_not_modified(images):
    frame, background = images
    mask = np.full((48, 64), 0.5, np.float32)
    copies = frame.copy(), background.copy(), mask.copy()
    composite(frame, background, mask)
    for original, kept in zip((frame, background, mask), copies, strict=True):
        np.testing.assert_array_equal(original, kept)


def test_validation_errors_say_what_came(images):
    frame, background = images
    mask = np.ones((48, 64), np.float32)
    with pytest.raises(TypeError, match="frame dtype must be uint8, got float32"):
        composite(frame.astype(np.float32), background, mask)
    expected = "background shape (48, 60, 3) != frame shape (48, 64, 3)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        composite(frame, background[:, :60], mask)
    expected = "frame shape must be (H, W, 3), got (48, 64, 4)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        composite(np.dstack([frame, frame[..., :1]]), background, mask)
    with pytest.raises(TypeError, match="mask dtype must be float32"):
        composite(frame, background, (mask * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=re.escape("mask shape must be (48, 64)")):
        composite(frame, background, mask[:40])
    with pytest.raises(ValueError, match=r"mask values must be in \[0, 1\]"):
        composite(frame, background, mask * 2.0)
    with pytest.raises(TypeError, match="numpy array"):
        composite(frame, background, 0.5)


def test_load_background_cover_crops_wide_and_tall(tmp_path):
    # Wide picture, left third red, middle green, right third blue; a 4:3 crop keeps the middle.
    wide = np.zeros((300, 900, 3), np.uint8)
    wide[:, :300] = (255, 0, 0)
    wide[:, 300:600] = (0, 255, 0)
    wide[:, 600:] = (0, 0, 255)
    out = load_background(wide, (640, 480))
    assert out.shape == (480, 640, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    # The crop is 400x300 around the centre: columns 250..650 of the source, mostly green.
    assert (out[:, 100:540] == (0, 255, 0)).all()
    assert (out[:, :50, 0] > 200).all() and (out[:, -50:, 2] > 200).all()

    # Tall picture saved as BGR on disk: top half white, bottom half black; a 16:9 crop keeps
    # a band around the middle line.
    tall = np.zeros((800, 200, 3), np.uint8)
    tall[:400] = 255
    path = tmp_path / "tall.png"
    cv2.imwrite(str(path), tall)
    out = load_background(path, (320, 180))
    assert out.shape == (180, 320, 3)
    assert (out[:80] == 255).all() and (out[-80:] == 0).all()


def test_load_background_same_aspect_and_enlarging():
    src = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(load_background(src, (40, 30)), src)
    assert load_background(src, (1280, 960)).shape == (960, 1280, 3)


def test_load_background_reads_grey_and_alpha_files(tmp_path):
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((20, 20), 77, np.uint8))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.full((20, 20, 4), (10, 20, 30, 40), np.uint8))  # BGRA on disk
    assert (load_background(grey, (10, 10)) == 77).all()
    assert (load_background(rgba, (10, 10)) == (30, 20, 10)).all()


def test_load_background_errors_name_the_file(tmp_path):
    missing = tmp_path / "no_such_picture.jpg"
    with pytest.raises(FileNotFoundError, match="no_such_picture.jpg"):
        load_background(missing, (640, 480))
    corrupt = tmp_path / "corrupt_picture.jpg"
    corrupt.write_bytes(b"\xff\xd8 this is not really a jpeg" * 10)
    with pytest.raises(ValueError, match="corrupt_picture.jpg"):
        load_background(corrupt, (640, 480))
    empty = tmp_path / "empty_picture.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty_picture.png"):
        load_background(str(empty), (640, 480))
    with pytest.raises(FileNotFoundError, match="a_directory"):
        (tmp_path / "a_directory").mkdir()
        load_background(tmp_path / "a_directory", (640, 480))


def test_load_background_bad_arguments():
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="positive"):
        load_background(img, (0, 10))
    with pytest.raises(TypeError, match="width, height"):
        load_background(img, (10,))
    with pytest.raises(TypeError, match="uint8"):
        load_background(img.astype(np.float32), (10, 10))
    with pytest.raises(TypeError, match="path or an RGB uint8 array"):
        load_background(42, (10, 10))


def test_bundled_gallery_is_small_licensed_and_loads():
    licences = (ASSETS_DIR / "LICENSES.md").read_text("utf-8")
    assert len(BACKGROUND_PATHS) >= 2
    for path in (*BACKGROUND_PATHS.values(), PORTRAIT_PATH):
        assert path.suffix == ".jpg"
        assert path.stat().st_size < 150_000
        assert path.name in licences
        image = cv2.imread(str(path))
        assert max(image.shape[:2]) <= 640
    means = [
        load_background(p, (64, 48)).reshape(-1, 3).mean(axis=0) for p in BACKGROUND_PATHS.values()
    ]
    # The gallery spans different light: the warm one is redder than the cool one, relative to blue.
    warm, cool = means[0], means[1]
    assert warm[0] / warm[2] > 1.2 > cool[0] / cool[2]


def _matte(alpha: np.ndarray) -> Matte:
    h, w = alpha.shape
    x, y, bw, bh = cv2.boundingRect(alpha)
    low = cv2.resize(alpha, (w // 2, h // 2), interpolation=cv2.INTER_AREA) / np.float32(255)
    return Matte(alpha, (x, y, x + bw, y + bh), low.astype(np.float32), 2, float(low.mean()))


def test_matte_composite_is_the_blend_in_eight_bits(images):
    frame, background = images
    rng = np.random.default_rng(3)
    alpha = np.zeros((48, 64), np.uint8)
    alpha[8:40, 10:50] = rng.integers(0, 256, (32, 40), dtype=np.uint8)
    alpha[12:20, 14:30] = 255
    matte = _matte(alpha)
    matte.foreground = frame  # the person's colour given, as RVM gives it: nothing estimated
    out = composite_matte(frame, background, matte)
    assert out.dtype == np.uint8 and out.shape == frame.shape and out.flags.c_contiguous
    # Within one level of the exact blend; exact at alpha 0 and 255.
    ref = composite(frame, background, alpha / np.float32(255))
    assert np.abs(out.astype(int) - ref).max() <= 1
    np.testing.assert_array_equal(out[alpha == 0], background[alpha == 0])
    np.testing.assert_array_equal(out[alpha == 255], frame[alpha == 255])
    # Nobody: the background, as a new array.
    empty = Matte(np.zeros((48, 64), np.uint8), (0, 0, 0, 0), np.zeros((24, 32), np.float32), 2,
                  0.0)
    out = composite_matte(frame, background, empty)
    np.testing.assert_array_equal(out, background)
    assert out is not background


def test_soft_edge_keeps_the_person_colour_not_the_old_room():
    # A dark person before a pale wall, a soft 12-pixel edge: the camera pixel there mixes the
    # two. Over a black scene the plain blend carries the wall along as a light rim; the
    # estimated colour leaves the person's own.
    h, w = 96, 128
    x = np.arange(w, dtype=np.float32)
    a = np.clip((64 - x) / 12 + 0.5, 0.0, 1.0)[None, :].repeat(h, 0)
    person, wall = np.float32([40, 30, 25]), np.float32([235, 230, 220])
    frame = np.rint(a[..., None] * person + (1 - a[..., None]) * wall).astype(np.uint8)
    alpha = np.rint(a * 255).astype(np.uint8)
    black = np.zeros_like(frame)
    out = composite_matte(frame, black, _matte(alpha)).astype(np.float32)
    ideal = (alpha / np.float32(255))[..., None] * person
    edge = (alpha > 0) & (alpha < 255)
    plain = composite(frame, black, alpha / np.float32(255)).astype(np.float32)
    spill = np.abs(out - ideal)[edge].mean()
    assert spill < 0.25 * np.abs(plain - ideal)[edge].mean(), (spill, np.abs(plain - ideal)[edge].mean())
    np.testing.assert_array_equal(out[alpha == 255], frame[alpha == 255])
    np.testing.assert_array_equal(out[alpha == 0], 0)


def test_matte_composite_refuses_what_does_not_fit(images):
    frame, background = images
    matte = _matte(np.full((48, 64), 255, np.uint8))
    with pytest.raises(TypeError, match="Matte"):
        composite_matte(frame, background, np.ones((48, 64), np.float32))
    with pytest.raises(ValueError, match="matte shape"):
        composite_matte(frame[:24], background[:24], matte)
    with pytest.raises(TypeError, match="uint8"):
        composite_matte(frame.astype(np.float32), background, matte)
