"""Sinks: the virtual camera through pyvirtualcam with a stand-in backend, the recorder, the
preview."""

from __future__ import annotations

import platform
import threading
import time

import cv2
import numpy as np
import pytest
import pyvirtualcam

from standins import NO_DEVICE_BACKEND, TEST_BACKEND, FakeBackend

from vcam.sinks import (
    MODPROBE_COMMAND,
    NoVirtualCameraError,
    PreviewSink,
    RecorderSink,
    SinkError,
    VirtualCameraSink,
    install_hint,
)

pytestmark = pytest.mark.usefixtures("virtual_backends")


def _frame(h: int = 48, w: int = 64, rgb=(200, 30, 10)) -> np.ndarray:
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = rgb
    return frame


# ------------------------------------------------------------------------------ virtual camera


def test_virtual_camera_sends_rgb_frames_through_pyvirtualcam():
    with VirtualCameraSink(64, 48, 30, backend=TEST_BACKEND) as sink:
        assert sink.paced
        assert sink.device == "/dev/fake-phnet"
        assert sink.backend == TEST_BACKEND
        for _ in range(3):
            sink.send(_frame())
        assert sink.frames_sent == 3
        backend = FakeBackend.instances[0]
        assert backend.count == 3 and not backend.bad
        assert (backend.frames[0] == _frame()).all()  # RGB order kept
    assert backend.closed == 1
    sink.close()  # idempotent
    assert backend.closed == 1
    assert sink.device is None
    with pytest.raises(RuntimeError, match="closed"):
        sink.send(_frame())


def test_virtual_camera_device_name_is_passed_through():
    with VirtualCameraSink(64, 48, 30, device="PHNet Camera", backend=TEST_BACKEND) as sink:
        assert sink.device == "PHNet Camera"


def test_virtual_camera_refuses_a_wrong_frame():
    with VirtualCameraSink(64, 48, 30, backend=TEST_BACKEND) as sink:
        with pytest.raises(ValueError, match=r"\(48, 64, 3\)"):
            sink.send(_frame(48, 63))
        with pytest.raises(TypeError, match="uint8"):
            sink.send(_frame().astype(np.float32))
        assert sink.frames_sent == 0


def test_no_device_message_is_one_line_with_the_command():
    with pytest.raises(NoVirtualCameraError) as info:
        VirtualCameraSink(64, 48, 30, backend=NO_DEVICE_BACKEND)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("no virtual camera device found")
    assert install_hint() in message
    assert info.value.reasons and "v4l2 loopback" in info.value.reasons[0]
    assert isinstance(info.value, RuntimeError)


@pytest.mark.skipif(platform.system() != "Linux", reason="v4l2loopback is Linux only")
def test_real_v4l2_backend_without_a_device_names_the_modprobe_command():
    try:
        sink = VirtualCameraSink(64, 48, 30, backend="v4l2loopback")
    except NoVirtualCameraError as exc:
        assert "\n" not in str(exc)
        assert MODPROBE_COMMAND in str(exc)
    else:  # a machine with the module loaded
        sink.close()
        pytest.skip("a v4l2loopback device exists here")


def test_install_hints_per_system():
    assert install_hint("Linux") == (
        'create one with: sudo modprobe v4l2loopback devices=1 card_label="PHNet Camera" '
        "exclusive_caps=1"
    )
    assert "OBS" in install_hint("Windows") and "Unity Capture" in install_hint("Windows")
    assert '"PHNet Camera"' in install_hint("Windows")
    assert "OBS Studio 30" in install_hint("Darwin")
    for system in ("Linux", "Windows", "Darwin"):
        assert "\n" not in install_hint(system)


def test_unknown_backend_and_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="unknown virtual camera backend 'nope'"):
        VirtualCameraSink(64, 48, 30, backend="nope")
    with pytest.raises(ValueError, match="width"):
        VirtualCameraSink(0, 48, 30, backend=TEST_BACKEND)
    with pytest.raises(ValueError, match="fps"):
        VirtualCameraSink(64, 48, 0, backend=TEST_BACKEND)


# ----------------------------------------------------------------------------------- recorder


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_recorder_writes_rgb_frames(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with RecorderSink(path, 64, 48, 25) as rec:
        assert not rec.paced
        for _ in range(5):
            rec.send(_frame(rgb=(220, 20, 20)))  # red
        assert rec.frames_written == 5
    rec.close()  # idempotent
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    assert len(frames) == 5
    b, g, r = frames[2][24, 32].astype(int)
    assert r > 180 and g < 60 and b < 60, (r, g, b)  # still red: converted once, correctly


def test_recorder_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        RecorderSink(tmp_path / "out.gif", 64, 48, 25)
    missing = tmp_path / "no" / "such" / "out.mp4"
    with pytest.raises(SinkError, match=str(missing).replace("\\", "\\\\")):
        RecorderSink(missing, 64, 48, 25)
    with RecorderSink(tmp_path / "out.mp4", 64, 48, 25) as rec:
        with pytest.raises(ValueError, match="frame shape"):
            rec.send(_frame(10, 10))


# ------------------------------------------------------------------------------------ preview


def test_preview_keeps_the_newest_frame_read_only():
    preview = PreviewSink(keep_input=True)
    assert preview.latest() is None and preview.latest_input() is None
    first, second, camera = _frame(rgb=(1, 2, 3)), _frame(rgb=(4, 5, 6)), _frame(rgb=(7, 8, 9))
    preview.send(first)
    preview.send(second, camera)
    latest = preview.latest()
    assert (latest == second).all() and preview.frames_received == 2
    assert (preview.latest_input() == camera).all()
    with pytest.raises(ValueError):
        latest[0, 0, 0] = 0  # read-only
    preview.close()
    preview.close()
    assert preview.latest() is None
    preview.send(first)  # ignored once closed
    assert preview.latest() is None


def test_preview_is_thread_safe():
    preview = PreviewSink()
    frames = [_frame(rgb=(i, i, i)) for i in range(50)]
    errors = []

    def writer():
        for f in frames * 20:
            preview.send(f)

    def reader():
        for _ in range(2000):
            latest = preview.latest()
            if latest is not None and not (latest == latest[0, 0]).all():
                errors.append("torn frame")

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not errors
    assert preview.frames_received == 1000


def test_recorder_replaces_its_file_only_on_commit(tmp_path):
    path = tmp_path / "out.avi"
    path.write_bytes(b"the user's file")
    rec = RecorderSink(path, 64, 48, 25)
    rec.send(_frame())
    assert path.read_bytes() == b"the user's file"  # frames go to a temporary file beside it
    rec.close()  # not committed: dropped
    assert path.read_bytes() == b"the user's file" and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(RuntimeError):
        rec.send(_frame())

    with pytest.raises(KeyboardInterrupt):
        with RecorderSink(path, 64, 48, 25) as rec:
            rec.send(_frame())
            raise KeyboardInterrupt
    assert path.read_bytes() == b"the user's file" and len(list(tmp_path.iterdir())) == 1

    rec = RecorderSink(path, 64, 48, 25)
    rec.send(_frame())
    assert rec.commit() == path
    rec.close()  # after commit: nothing left to do
    assert cv2.VideoCapture(str(path)).read()[0]
    assert [p.name for p in tmp_path.iterdir()] == ["out.avi"]
