"""Before the panel creates its Qt application it checks that Qt's platform plugin can start:
a missing system library or an unreachable display is one line naming what to install or do,
exit status 2, instead of Qt's abort with a core dump (issue 21)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from children import environment, phnet_cam

from vcam.panel import platform_check

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="Qt's xcb plugin and ldd are Linux's")


def _x_display_without_server() -> str:
    """A display number no X server listens on here."""
    for number in range(99, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(
                f"/tmp/.X{number}-lock").exists():
            return f":{number}"
    pytest.skip("every display number 99..199 is taken")


def _xcb_plugin() -> Path:
    plugin = platform_check.xcb_plugin()
    if plugin is None:
        pytest.skip("this Qt has no xcb platform plugin")
    return plugin


@linux_only
def test_the_panel_says_in_one_line_why_its_window_cannot_open(tmp_path):
    # Failed before: with DISPLAY set, Qt aborted the process (exit 134, a core dump), whether
    # the xcb plugin's libraries were missing (a minimal Debian) or no X server was there.
    env = environment(DISPLAY=_x_display_without_server())
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    proc = phnet_cam("panel", "--settings", str(tmp_path / "settings.toml"), "--no-tray",
                     cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    line = proc.stderr
    assert line.startswith("phnet-cam panel: error: ")
    assert "'phnet-cam run' works without the panel" in line
    if platform_check.missing_libraries(_xcb_plugin()):
        assert "sudo apt install" in line and "sudo dnf install" in line
    else:
        assert f"cannot connect to the X display {env['DISPLAY']}" in line


def test_a_folder_as_the_settings_file_is_refused_in_one_line(tmp_path):
    # Before, the panel logged "cannot read settings ...: Is a directory" and opened with the
    # defaults, which it could never save.
    proc = phnet_cam("panel", "--settings", str(tmp_path), "--no-tray", cwd=tmp_path,
                     env=environment(QT_QPA_PLATFORM="offscreen"), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("phnet-cam panel: error: argument --settings: ")
    assert f"{tmp_path} is a folder; expected a settings file" in proc.stderr


@linux_only
def test_a_missing_library_of_the_xcb_plugin_is_found_and_named_with_its_packages(tmp_path):
    # A copy of the real plugin that needs a library no system has (its name patched in place,
    # same length), beside a link to Qt's own libraries so that everything else resolves.
    plugin = _xcb_plugin()
    if shutil.which("ldd") is None:
        pytest.skip("no ldd")
    (tmp_path / "plugins" / "platforms").mkdir(parents=True)
    os.symlink(plugin.parent.parent.parent / "lib", tmp_path / "lib")
    data = plugin.read_bytes()
    assert b"libxcb-icccm.so.4\0" in data
    copy = tmp_path / "plugins" / "platforms" / plugin.name
    copy.write_bytes(data.replace(b"libxcb-icccm.so.4\0", b"libxcb-phnet.so.4\0"))
    missing = platform_check.missing_libraries(copy)
    assert "libxcb-phnet.so.4" in missing
    assert not any(name.startswith("libQt6") for name in missing), missing


def test_missing_libraries_become_debian_and_fedora_packages():
    line = platform_check.install_hint(["libxcb-cursor.so.0", "libxcb-icccm.so.4",
                                        "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0",
                                        "libxcb-shape.so.0", "libfoo.so.3"])
    assert ("Debian/Ubuntu: sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 "
            "libxkbcommon-x11-0 libxcb-shape0") in line
    assert ("Fedora: sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms "
            "libxkbcommon-x11 libxcb") in line
    assert "libfoo.so.3" in line  # a library without a known package is named as it is


@pytest.mark.parametrize("env, expected", [
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ""}, None),
    ({"WAYLAND_DISPLAY": "wayland-0"}, None),
    ({}, "no display to open the panel on"),
    ({"QT_QPA_PLATFORM": "xcb"}, "no display to open the panel on"),
])
def test_which_platform_is_checked(env, expected):
    found = platform_check.platform_problem(env, linux=True)
    assert found is None if expected is None else expected in found
    assert platform_check.platform_problem({}, linux=False) is None
