"""Whether Qt's platform plugin can open the panel's window, checked before Qt tries.

Qt answers a platform plugin that cannot start by aborting the process (a core dump, exit
status 134). On Linux its xcb plugin (X11) needs system libraries that a minimal installation
lacks (``libxcb-cursor0``, ``libxcb-icccm4``, ``libxcb-keysyms1``, ...) and an X server to
connect to; both are checked here, so that the panel can say in one line what to install or
do instead. Other platforms (Wayland, Windows, macOS, ``offscreen``) are left to Qt.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

WITHOUT_PANEL = "'phnet-cam run' works without the panel"

# Libraries of the xcb plugin that a minimal system may lack -> (Debian/Ubuntu, Fedora) package.
# The other libxcb-NAME.so.N are Debian's libxcb-NAMEN and Fedora's libxcb (see _packages).
_PACKAGES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}
_XCB_EXTENSION = re.compile(r"libxcb-([a-z0-9-]+)\.so\.(\d+)")


def platform_problem(environ: Mapping[str, str] | None = None,
                     linux: bool | None = None) -> str | None:
    """Why Qt could not open a window here, in one line; ``None`` when it can, as far as can be
    told, or when the platform is not one checked here."""
    environ = os.environ if environ is None else environ
    linux = sys.platform.startswith("linux") if linux is None else linux
    if not linux:
        return None
    platform = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if platform not in ("", "xcb"):
        return None  # offscreen, wayland, ...: Qt's own choice
    display = environ.get("DISPLAY", "")
    if not platform and environ.get("WAYLAND_DISPLAY"):
        return None  # a Wayland session: Qt's wayland plugin
    if not display:
        return ("no display to open the panel on (DISPLAY and WAYLAND_DISPLAY are not set); "
                f"start it from a desktop session; {WITHOUT_PANEL}")
    plugin = xcb_plugin()
    missing = missing_libraries(plugin) if plugin is not None else []
    if missing:
        return (f"Qt's xcb platform plugin, which opens the panel's window, needs libraries "
                f"that are not installed: {', '.join(missing)}. {install_hint(missing)}; "
                f"{WITHOUT_PANEL}")
    if not _display_opens(display):
        return (f"cannot connect to the X display {display} (DISPLAY): is the desktop session "
                f"running, and may this user use it? {WITHOUT_PANEL}")
    return None


def xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin, as the panel's Qt (PySide6) loads it; ``None`` if there is
    none."""
    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    found = sorted(folder.glob("libqxcb*.so"))
    return found[0] if found else None


def missing_libraries(library: Path) -> list[str]:
    """The shared libraries ``library`` needs, directly or through others, that the dynamic
    loader cannot find (``ldd``), in the order ``ldd`` lists them; ``[]`` without ``ldd``."""
    try:
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing: list[str] = []
    for line in out.splitlines():
        name, _, where = line.strip().partition(" => ")
        if where.strip() == "not found" and name not in missing:
            missing.append(name)
    return missing


def install_hint(libraries: Iterable[str]) -> str:
    """``Debian/Ubuntu: sudo apt install ...; Fedora: sudo dnf install ...`` for
    ``libraries``, and the libraries no package is known for, by name."""
    debian: list[str] = []
    fedora: list[str] = []
    unknown: list[str] = []
    for library in libraries:
        packages = _packages(library)
        if packages is None:
            unknown.append(library)
            continue
        for found, package in zip((debian, fedora), packages):
            if package not in found:
                found.append(package)
    parts = []
    if debian:
        parts.append(f"Debian/Ubuntu: sudo apt install {' '.join(debian)}; "
                     f"Fedora: sudo dnf install {' '.join(fedora)}")
    if unknown:
        parts.append(f"install the package that provides {', '.join(unknown)}")
    return "; ".join(parts)


def _packages(library: str) -> tuple[str, str] | None:
    if library in _PACKAGES:
        return _PACKAGES[library]
    match = _XCB_EXTENSION.fullmatch(library)
    if match:
        return f"libxcb-{match.group(1)}{match.group(2)}", "libxcb"
    return None


def _display_opens(display: str) -> bool:
    """Whether an X connection to ``display`` opens (libxcb, as Qt's plugin connects)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # cannot tell: let Qt try
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)
