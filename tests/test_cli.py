"""``phnet-cam``: demo, run, process and the settings file, through ``main()`` as a user runs it."""

from __future__ import annotations

import _thread
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from standins import NO_DEVICE_BACKEND, TEST_BACKEND, FakeBackend

from vcam.cli import DEMO_PICTURE, DEMO_VIDEO, background_from_arg, build_parser, main
from vcam.config import BackgroundConfig, CameraConfig, HarmoniseConfig
from vcam.demo_source import DemoSource, DemoSourceConfig
from vcam.settings import Settings, SettingsError, load_settings, save_settings
from vcam.sinks import MODPROBE_COMMAND

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("virtual_backends")


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> Path:
    """20 frames of the demo portrait, 160x120 at 15 fps."""
    path = tmp_path_factory.mktemp("video") / "in.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (160, 120))
    for frame, _ in DemoSource(DemoSourceConfig(width=160, height=120, fps=15, frames=20,
                                                realtime=False)):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _count_frames(path: Path) -> tuple[int, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    n, shape = 0, (0, 0)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, shape = n + 1, frame.shape[:2]
    cap.release()
    return n, shape


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("phnet-cam")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------------------- demo


def test_demo_writes_video_and_three_panel_picture(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["demo", "--frames", "12", "--size", "320x240", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "harmonisation:" in printed and "segmentation" in printed and "fps" in printed
    # Honest about what ran: no PHNet checkpoint is bundled today.
    if not (REPO / "models" / "phnet-lite.safetensors").is_file():
        assert "NOT PHNet" in printed and "colour transfer" in printed
    assert _count_frames(out / DEMO_VIDEO) == (12, (240, 320))

    picture = cv2.imread(str(out / DEMO_PICTURE))
    height, width = picture.shape[:2]
    gap = (width - 3 * 320) // 2
    assert gap > 0 and width == 3 * 320 + 2 * gap and height > 240
    bar = height - 240
    panels = [picture[bar:, i * (320 + gap) : i * (320 + gap) + 320] for i in range(3)]
    for i in range(2):  # white gaps between the panels
        x = (i + 1) * 320 + i * gap
        assert (picture[:, x : x + gap] == 255).all()
    assert all(p.std() > 20 for p in panels)  # pictures, not blank
    assert not np.array_equal(panels[0], panels[1])  # the background was replaced
    assert (picture[:bar] < 128).any()  # the labels


def test_demo_with_blur_and_harmonisation_off(tmp_path, capsys):
    assert main(["demo", "--frames", "3", "--size", "160x120", "--background", "blur",
                 "--mode", "off", "--out", str(tmp_path)]) == 0
    assert "harmonisation: off" in capsys.readouterr().out
    assert (tmp_path / DEMO_PICTURE).is_file()


# ---------------------------------------------------------------------------------------- run


def test_run_without_a_virtual_camera_exits_2_with_one_line(small_video, capsys):
    code = main(["run", "--camera", str(small_video), "--backend", NO_DEVICE_BACKEND])
    assert code == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "no virtual camera device found" in line
    if sys.platform.startswith("linux"):
        assert MODPROBE_COMMAND in line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is Linux only")
def test_run_as_a_user_would_without_loopback_device(small_video):
    if list(Path("/sys/devices/virtual/video4linux").glob("video*")):
        pytest.skip("this machine has a loopback device")
    proc = subprocess.run(
        [sys.executable, "-m", "vcam", "run", "--camera", str(small_video)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 2, proc.stderr
    line = _one_line_error(proc.stderr)
    assert MODPROBE_COMMAND in line


def test_run_with_a_missing_camera_exits_2(capsys):
    assert main(["run", "--camera", "/no/such/video9", "--backend", TEST_BACKEND]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "/no/such/video9" in line


def test_run_stops_cleanly_on_ctrl_c(capsys):
    done = threading.Event()

    def press_ctrl_c_once_sending() -> None:
        # Wait until frames flow, so that the interrupt hits the running loop, not the start.
        deadline = time.monotonic() + 60.0  # never hang the suite
        while not done.wait(0.05):
            sending = FakeBackend.instances and FakeBackend.instances[0].count >= 20
            if sending or time.monotonic() > deadline:
                _thread.interrupt_main()
                return

    presser = threading.Thread(target=press_ctrl_c_once_sending)
    presser.start()
    try:
        code = main(["run", "--camera", "demo", "--size", "160x120", "--mode", "colortransfer",
                     "--backend", TEST_BACKEND, "--device", "PHNet Camera"])
    finally:
        done.set()
        presser.join()
    assert code == 0
    out = capsys.readouterr().out
    assert "PHNet Camera running: 160x120" in out and "stopped" in out
    backend = FakeBackend.instances[0]
    assert backend.closed == 1 and backend.count >= 20 and not backend.bad
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("vcam-"))


# ------------------------------------------------------------------------------------ process


def test_process_writes_every_frame(small_video, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["process", str(small_video), str(out), "--mode", "colortransfer",
                 "--background", "storm"]) == 0
    assert "processed 20 frames" in capsys.readouterr().out
    assert _count_frames(out) == (20, (120, 160))


def test_process_refuses_a_missing_input(tmp_path, capsys):
    assert main(["process", str(tmp_path / "nope.mp4"), str(tmp_path / "out.mp4")]) == 2
    assert "nope.mp4" in _one_line_error(capsys.readouterr().err)


# ------------------------------------------------------------------------ settings and errors


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["demo", "--size", "5x5"], "width must be an integer in [16, 7680], got 5"),
        (["demo", "--background", "color:1,2"], "three integers"),
        (["run", "--fps", "500", "--camera", "demo"], "fps must be a number in (0, 240]"),
    ],
)
def test_bad_values_are_refused_in_one_line(argv, expected, tmp_path, capsys):
    assert main([*argv, *(["--out", str(tmp_path)] if argv[0] == "demo" else [])]) == 2
    assert expected in _one_line_error(capsys.readouterr().err)


def test_argparse_refuses_bad_flags(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--frames", "0"])
    assert info.value.code == 2
    assert "--frames" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--mode", "magic"])


def test_settings_round_trip(tmp_path):
    settings = Settings(
        camera=CameraConfig(device="/dev/video2", width=1280, height=720, fps=60.0, mirror=True),
        background=BackgroundConfig(kind="color", color=(1, 2, 3)),
        harmonise=HarmoniseConfig(mode="colortransfer", momentum=0.5, model='a "quoted" path'),
    )
    path = save_settings(settings, tmp_path / "deep" / "settings.toml")
    assert load_settings(path) == settings
    assert [p.name for p in path.parent.iterdir()] == ["settings.toml"]  # no temp file left


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[camera]\nwidth = 5\n", "camera.width must be an integer in [16, 7680], got 5"),
        ("[camera]\nwidht = 640\n", "unknown key camera.widht (allowed: device, width"),
        ("[harmonise]\nmomentum = 0.0\n", "harmonise.momentum must be a number in (0, 1]"),
        ("[colour]\n", "unknown table [colour]"),
        ("[camera\nwidth = ", "is not valid TOML"),
    ],
)
def test_settings_refuse_bad_files_naming_them(tmp_path, text, expected):
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value) and info.value.path == path


def test_config_file_is_used_and_flags_override_it(tmp_path, capsys):
    path = save_settings(
        Settings(background=BackgroundConfig(kind="color", color=(0, 0, 255)),
                 harmonise=HarmoniseConfig(mode="off")),
        tmp_path / "s.toml",
    )
    assert main(["demo", "--config", str(path), "--frames", "2", "--size", "160x120",
                 "--out", str(tmp_path)]) == 0
    assert "harmonisation: off" in capsys.readouterr().out
    assert main(["demo", "--config", str(path), "--mode", "colortransfer", "--frames", "2",
                 "--size", "160x120", "--out", str(tmp_path)]) == 0
    assert "harmonisation: colour transfer" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera]\nfps = -1\n")
    assert main(["demo", "--config", str(bad), "--out", str(tmp_path)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "camera.fps must be a number in (0, 240]" in line and "bad.toml" in line


def test_background_argument_forms():
    assert background_from_arg("blur").kind == "blur"
    assert background_from_arg("color:1,2,3").color == (1, 2, 3)
    assert background_from_arg("dune").path.endswith("bg_dune.jpg")
    assert background_from_arg("clip.MP4").kind == "video"
    assert background_from_arg("beach.png") == BackgroundConfig(kind="image", path="beach.png")


def test_network_flags_reach_the_harmonise_settings():
    from vcam.cli import _settings, build_parser

    args = build_parser().parse_args(["demo", "--network-every", "3"])
    assert _settings(args).harmonise.network_every == 3
    assert _settings(args).harmonise.network_thread == "off"  # offline: every frame's network
    assert _settings(build_parser().parse_args(["run"])).harmonise.network_thread == "auto"
    args = build_parser().parse_args(["run", "--network-thread"])
    assert _settings(args).harmonise.network_thread == "on"
    args = build_parser().parse_args(["process", "a.mp4", "b.mp4", "--network-thread", "on"])
    assert _settings(args).harmonise.network_thread == "on"
    # Settings files written before "auto" said true / false.
    assert HarmoniseConfig(network_thread=True).network_thread == "on"
    assert HarmoniseConfig(network_thread=False).network_thread == "off"
    with pytest.raises(ValueError, match="network_thread"):
        HarmoniseConfig(network_thread="sometimes")


def test_bench_flags_are_checked(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--load", "99"])
    assert "busy processes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--variants", "off,phnet-fast"])
    assert "unknown row 'phnet-fast'" in capsys.readouterr().err
    args = build_parser().parse_args(["bench", "--load", "2", "--sizes", "320x240,640x360",
                                      "--variants", "off,phnet-torch-thread"])
    assert args.load == 2 and args.sizes == [(320, 240), (640, 360)]
    assert args.variants == ["off", "phnet-torch-thread"]


def test_run_status_line_reports_the_cores():
    from vcam.cli import _status_line

    snap = {"fps": {"processed": 30.0, "sent": 30.0}, "latency": {"median_ms": 40.0},
            "counters": {"dropped": 2}, "cpu_cores": 0.42}
    line = _status_line(snap)
    assert "cpu 0.42 cores" in line and "processed 30.0 fps" in line and "dropped 2" in line
    assert "cpu - cores" in _status_line(dict(snap, cpu_cores=None))
