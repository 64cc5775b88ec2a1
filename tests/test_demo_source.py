"""The built-in demo source: size, type, determinism, and that it moves like a camera."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from vcam.demo_source import DemoSource, DemoSourceConfig
from vcam.images import PORTRAIT_PATH

FAST = DemoSourceConfig(realtime=False)
STILL = replace(
    FAST,
    pan_amount=0.0,
    zoom_amount=0.0,
    exposure_amount=0.0,
    white_balance_amount=0.0,
    noise_sigma=0.0,
)


def test_bundled_portrait_is_small():
    assert PORTRAIT_PATH.is_file()
    assert PORTRAIT_PATH.stat().st_size < 150_000


@pytest.mark.parametrize("size", [(640, 480), (320, 240), (480, 640), (1280, 720)])
def test_frames_are_rgb_uint8_of_the_requested_size(size):
    width, height = size
    src = DemoSource(replace(FAST, width=width, height=height, frames=3))
    items = list(src)
    assert len(items) == 3
    for frame, _ in items:
        assert frame.shape == (height, width, 3)
        assert frame.dtype == np.uint8
        assert frame.flags.c_contiguous


def test_defaults_are_vga_at_30fps():
    src = DemoSource(FAST)
    assert (src.width, src.height, src.fps) == (640, 480, 30.0)
    frame, ts = src.read()
    assert frame.shape == (480, 640, 3) and ts == 0.0


def test_frames_limit_and_timestamps():
    src = DemoSource(replace(FAST, fps=25.0, frames=4))
    stamps = [ts for _, ts in src]
    assert stamps == pytest.approx([0.0, 0.04, 0.08, 0.12])
    assert src.read() is None
    assert src.frame_index == 4


def test_same_seed_same_frames_other_seed_other_frames():
    a = [f for f, _ in DemoSource(replace(FAST, seed=7, frames=5))]
    b = [f for f, _ in DemoSource(replace(FAST, seed=7, frames=5))]
    c = [f for f, _ in DemoSource(replace(FAST, seed=8, frames=5))]
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa, fb)
    assert any(not np.array_equal(fa, fc) for fa, fc in zip(a, c, strict=True))


def test_render_is_pure_and_matches_read():
    src = DemoSource(replace(FAST, frames=6))
    frames = [f for f, _ in src]
    np.testing.assert_array_equal(src.render(5), frames[5])
    np.testing.assert_array_equal(src.render(2), frames[2])


def test_noise_is_small_and_zero_mean():
    noisy = DemoSource(replace(STILL, noise_sigma=2.0)).render(10).astype(np.float32)
    clean = DemoSource(STILL).render(10).astype(np.float32)
    diff = noisy - clean
    assert abs(diff.mean()) < 0.1
    assert 1.5 < diff.std() < 2.5


def test_camera_motion_moves_the_picture():
    moving = replace(STILL, pan_amount=0.03, zoom_amount=0.05)
    src = DemoSource(moving)
    first, later = src.render(0), src.render(90)  # 3 s apart
    # No colour change in this config, so a difference is geometry: large and local.
    diff = np.abs(first.astype(np.int16) - later.astype(np.int16))
    assert diff.mean() > 5.0
    # A still config gives identical frames, so the difference above is the motion.
    still = DemoSource(STILL)
    np.testing.assert_array_equal(still.render(0), still.render(90))


def test_exposure_and_white_balance_drift():
    drifting = replace(STILL, exposure_amount=0.08, white_balance_amount=0.06)
    src = DemoSource(drifting)
    means = np.array([src.render(i * 15).reshape(-1, 3).mean(axis=0) for i in range(30)])
    brightness = means.mean(axis=1)
    red_over_blue = means[:, 0] / means[:, 2]
    assert brightness.max() - brightness.min() > 5.0  # levels
    assert red_over_blue.max() / red_over_blue.min() > 1.1
    # Slow: a single frame step changes the brightness by well under a level.
    step = abs(src.render(1).mean() - src.render(0).mean())
    assert step < 0.5


def test_realtime_paces_to_fps():
    src = DemoSource(replace(DemoSourceConfig(), width=64, height=48, fps=100.0, frames=6))
    start = time.perf_counter()
    assert len(list(src)) == 6
    assert time.perf_counter() - start >= 0.045  # five intervals of 10 ms, minus slack


def test_close_ends_the_stream():
    with DemoSource(FAST) as src:
        assert src.read() is not None
    assert src.read() is None
    src.close()


def test_custom_portrait_and_missing_portrait(tmp_path):
    import cv2

    path = tmp_path / "flat.png"
    cv2.imwrite(str(path), np.full((100, 80, 3), (10, 20, 30), np.uint8))  # BGR on disk
    frame = DemoSource(replace(STILL, image_path=path, width=40, height=30)).render(0)
    assert frame.shape == (30, 40, 3)
    assert (frame == np.array([30, 20, 10], np.uint8)).all()
    with pytest.raises(FileNotFoundError, match="missing.png"):
        DemoSource(replace(FAST, image_path=tmp_path / "missing.png"))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"width": 0}, ValueError),
        ({"height": 480.0}, TypeError),
        ({"fps": 0.0}, ValueError),
        ({"frames": -1}, ValueError),
        ({"noise_sigma": -1.0}, ValueError),
        ({"pan_amount": 0.7}, ValueError),
        ({"zoom_period": 0.0}, ValueError),
        ({"focus": (0.5, 1.5)}, ValueError),
    ],
)
def test_bad_config_is_rejected(change, error):
    with pytest.raises(error):
        DemoSource(replace(FAST, **change))
