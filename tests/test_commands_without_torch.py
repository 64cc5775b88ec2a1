"""Every ``phnet-cam`` command of the camera install runs without PyTorch (issue 21).

Each runs in a fresh interpreter in which ``import torch`` fails as it does where PyTorch is
not installed (``sys.modules["torch"] = None``), so what this test process imported proves
nothing.
"""

from __future__ import annotations

import signal
import sys
import time

import cv2
import numpy as np
import pytest
from children import finish, phnet_cam, phnet_cam_argv, start
from standins import NO_DEVICE_BACKEND

COMMANDS = ["panel", "demo", "run", "process", "bench"]
STAND_INS = "from standins import register_stand_ins; register_stand_ins()"


def _clean(proc) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "torch" not in proc.stderr.lower() or "PyTorch" in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv", [["--help"], *([c, "--help"] for c in COMMANDS)],
                         ids=lambda argv: " ".join(argv))
def test_help_without_torch(argv, tmp_path):
    proc = phnet_cam(*argv, cwd=tmp_path, without_torch=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: phnet-cam" in proc.stdout
    _clean(proc)


def test_demo_and_process_without_torch(tmp_path):
    demo = phnet_cam("demo", "--frames", "3", "--size", "160x120", cwd=tmp_path,
                     without_torch=True)
    assert demo.returncode == 0, demo.stderr
    assert "harmonisation: light transfer" in demo.stdout
    _clean(demo)
    video = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (160, 120))
    for value in range(0, 200, 50):
        writer.write(np.full((120, 160, 3), value, np.uint8))
    writer.release()
    process = phnet_cam("process", "in.avi", "out.mp4", cwd=tmp_path, without_torch=True)
    assert process.returncode == 0, process.stderr
    assert "processed 4 frames" in process.stdout and (tmp_path / "out.mp4").is_file()
    _clean(process)


def test_run_without_torch_and_without_a_device_is_one_line(tmp_path):
    proc = phnet_cam("run", "--camera", "demo", "--vcam-backend", NO_DEVICE_BACKEND,
                     cwd=tmp_path, without_torch=True, setup=STAND_INS)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("phnet-cam: error: no virtual camera device found")
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_bench_without_torch(tmp_path):
    # Failed before: the table came, then the notes' "import torch" raised, exit 1.
    proc = phnet_cam("bench", "--frames", "2", "--paced-seconds", "0", "--sizes", "160x120",
                     "--variants", "off,phnet-torch,phnet-ort", cwd=tmp_path,
                     without_torch=True)
    assert proc.returncode == 0, proc.stderr
    assert "| 160x120 | off |" in proc.stdout and "onnxruntime" in proc.stdout
    assert "PyTorch rows: skipped" in proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_panel_without_torch(tmp_path):
    settings = tmp_path / "settings.toml"
    proc = start(phnet_cam_argv("panel", "--settings", str(settings), "--camera", "demo",
                                "--no-tray", without_torch=True),
                 cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        # The panel saves its first settings a second after it started.
        while not settings.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert settings.is_file(), "the panel did not start"
        proc.send_signal(signal.SIGINT)  # closes the window
        out, err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


def test_asking_for_the_pytorch_backend_without_torch_is_one_line(tmp_path):
    proc = phnet_cam("demo", "--frames", "2", "--harmonise-backend", "torch", cwd=tmp_path,
                     without_torch=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "--harmonise-backend torch needs PyTorch, which is not installed" in proc.stderr
    assert not (tmp_path / "phnet-demo.mp4").exists()


def test_bench_chart_without_matplotlib_is_refused_before_any_row(tmp_path):
    # Failed before: every row ran (minutes), then "import matplotlib" raised. (mediapipe brings
    # matplotlib today; the camera does not depend on it for anything else.)
    proc = phnet_cam("bench", "--chart", "chart.png", cwd=tmp_path, without_torch=True,
                     setup="sys.modules['matplotlib'] = None", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ("phnet-cam: error: --chart needs matplotlib, which is not "
                           "installed: pip install matplotlib\n")
