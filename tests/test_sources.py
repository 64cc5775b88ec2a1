"""Frame sources with real OpenCV: video files read through the webcam code path and as files."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam.config import CameraConfig
from vcam.demo_source import DemoSource
from vcam.images import PORTRAIT_PATH
from vcam.sources import (
    CameraSource,
    FrameSource,
    SourceError,
    VideoFileSource,
    open_source,
)

W, H, FPS, FRAMES = 64, 48, 10.0, 6
RED_BGR = (0, 0, 255)


def _frame_bgr(index: int) -> np.ndarray:
    """Frame ``index``: pure red on the left half, and a grey level on the right that counts
    up, so frames can be told apart after lossy encoding."""
    image = np.zeros((H, W, 3), np.uint8)
    image[:, : W // 2] = RED_BGR
    image[:, W // 2 :] = 30 + 35 * index
    return image


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    assert writer.isOpened()
    for i in range(FRAMES):
        writer.write(_frame_bgr(i))
    writer.release()
    return path


def _grey_index(frame: np.ndarray) -> int:
    level = float(frame[:, W // 2 + 4 :].mean())
    return round((level - 30) / 35)


def test_camera_source_reads_a_file_through_videocapture(video):
    with CameraSource(CameraConfig(device=str(video), width=W, height=H)) as cam:
        assert cam.is_open
        assert (cam.width, cam.height) == (W, H)
        assert cam.fps == pytest.approx(FPS)
        assert cam.requested.device == str(video)
        before = time.monotonic()
        frames = []
        while (item := cam.read()) is not None:
            frames.append(item)
        after = time.monotonic()
    assert len(frames) == FRAMES
    for frame, t in frames:
        assert frame.shape == (H, W, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous
        assert before <= t <= after
    times = [t for _, t in frames]
    assert times == sorted(times)
    assert [_grey_index(f) for f, _ in frames] == list(range(FRAMES))
    assert cam.measured_fps > 0


def test_frames_are_rgb(video):
    with CameraSource(CameraConfig(device=str(video))) as cam:
        frame, _ = cam.read()
    # Written as BGR (0, 0, 255): pure red, read back as RGB (255, 0, 0) up to JPEG loss.
    left = frame[:, 4 : W // 2 - 4].reshape(-1, 3).mean(axis=0)
    assert left[0] > 220 and left[1] < 35 and left[2] < 35


def test_mirror_flips_horizontally(video):
    with CameraSource(CameraConfig(device=str(video))) as plain:
        a, _ = plain.read()
    with CameraSource(CameraConfig(device=str(video), mirror=True)) as mirrored:
        b, _ = mirrored.read()
    np.testing.assert_array_equal(b, a[:, ::-1])
    assert b.flags.c_contiguous


def test_open_and_close_are_idempotent(video):
    cam = CameraSource(CameraConfig(device=str(video)))
    cam.open()
    assert cam.read() is not None
    cam.close()
    cam.close()
    assert not cam.is_open and cam.read() is None
    cam.open()  # reopens from the start
    assert _grey_index(cam.read()[0]) == 0
    cam.close()


def test_missing_camera_index_says_what_to_check():
    with pytest.raises(SourceError) as info:
        CameraSource(CameraConfig(device="57"))
    message = str(info.value)
    assert "camera 57 could not be opened" in message
    assert "connected" in message and "another app" in message
    assert isinstance(info.value, RuntimeError)


def test_missing_device_path_is_named(tmp_path):
    missing = tmp_path / "video99"
    with pytest.raises(SourceError, match=re.escape(str(missing))):
        CameraSource(CameraConfig(device=str(missing)))


def test_video_file_plays_once(video):
    with VideoFileSource(video, loop=False) as src:
        assert (src.width, src.height, src.fps) == (W, H, pytest.approx(FPS))
        assert src.frame_count == FRAMES
        items = list(iter(src.read, None))
        assert src.read() is None
    assert len(items) == FRAMES
    assert [t for _, t in items] == pytest.approx([i / FPS for i in range(FRAMES)])
    assert [_grey_index(f) for f, _ in items] == list(range(FRAMES))
    frame = items[0][0]
    assert frame.dtype == np.uint8 and frame.flags.c_contiguous
    assert frame[:, 4 : W // 2 - 4, 0].mean() > 220


def test_video_file_loops(video):
    with VideoFileSource(video, loop=True) as src:
        items = [src.read() for _ in range(2 * FRAMES + 2)]
        assert src.loops == 2
    assert all(item is not None for item in items)
    indices = [_grey_index(f) for f, _ in items]
    assert indices == [i % FRAMES for i in range(2 * FRAMES + 2)]
    times = [t for _, t in items]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_video_file_realtime_is_paced(video):
    with VideoFileSource(video, loop=False, realtime=True) as src:
        start = time.perf_counter()
        for _ in range(4):
            src.read()
        elapsed = time.perf_counter() - start
    assert elapsed >= 3 / FPS * 0.9


def test_missing_or_corrupt_file_is_named(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match=re.escape(str(missing))):
        VideoFileSource(missing)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"this is not a video" * 50)
    with pytest.raises(SourceError, match=re.escape(str(corrupt))):
        VideoFileSource(corrupt)


def test_open_source_picks_the_kind(video):
    camera = CameraConfig(width=320, height=240, fps=15.0)
    demo = open_source("demo", camera)
    assert isinstance(demo, DemoSource) and isinstance(demo, FrameSource)
    assert (demo.width, demo.height, demo.fps) == (320, 240, 15.0)
    demo.close()

    still = open_source(str(PORTRAIT_PATH), camera)
    assert isinstance(still, DemoSource) and still.width == 320
    still.close()

    clip = open_source(str(video), camera)
    assert isinstance(clip, VideoFileSource) and isinstance(clip, FrameSource)
    clip.close()

    with pytest.raises(SourceError, match="camera 57"):
        open_source("57", camera)


def test_camera_config_validation_names_the_field():
    with pytest.raises(ValueError, match=r"width must be an integer in \[16, 7680\], got 0"):
        CameraConfig(width=0)
    with pytest.raises(ValueError, match=r"fps must be a number in \(0, 240\], got -1"):
        CameraConfig(fps=-1)
    with pytest.raises(ValueError, match="mirror must be True or False"):
        CameraConfig(mirror="yes")
    with pytest.raises(ValueError, match="device"):
        CameraConfig(device="")
    with pytest.raises(ValueError, match="height"):
        replace(CameraConfig(), height=True)
    # A float fps given as an int is converted, and the dataclass is frozen.
    cfg = CameraConfig(fps=25)
    assert isinstance(cfg.fps, float)
    with pytest.raises(AttributeError):
        cfg.width = 10


def test_a_camera_file_that_goes_missing_is_named_as_missing(video, tmp_path):
    # A video file played as the camera, moved away mid-call. Failed before: the reopen at the
    # end of the loop reported "cannot open video file ...: corrupt or unsupported".
    path = tmp_path / "camera.avi"
    path.write_bytes(video.read_bytes())
    source = open_source(str(path), CameraConfig(width=W, height=H))
    source._realtime = False  # noqa: SLF001 - no need to wait for the frames here
    try:
        for _ in range(FRAMES):
            assert source.read() is not None
        path.unlink()
        with pytest.raises(SourceError) as info:
            source.read()
        assert str(info.value) == f"video file not found: {path}"
    finally:
        source.close()
    with pytest.raises(SourceError, match=r"camera video file not found: .*camera\.avi"):
        open_source(str(path))
