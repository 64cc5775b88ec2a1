"""Which cameras the panel offers, found without opening any of them."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

from vcam.sinks import CAMERA_NAME

logger = logging.getLogger(__name__)

#: Indices offered where cameras cannot be listed without opening them (Windows, macOS):
#: opening is slow there and may ask the user for permission, so it waits until one is chosen.
UNLISTED_INDICES = (0, 1, 2)

_SYSFS = Path("/sys/class/video4linux")


def list_cameras(sysfs: Path = _SYSFS, dev: Path = Path("/dev")) -> list[tuple[str, str]]:
    """(label, device) of the cameras to offer, in device order.

    On Linux the video4linux devices are read from sysfs: their names, and only each
    camera's capture node (a UVC webcam also has a metadata node, index 1). Loopback devices
    named like our own virtual camera are left out: reading them would feed the output back
    in. Elsewhere the first few indices are offered as they are.
    """
    if not sys.platform.startswith("linux"):
        return [(f"Camera {i}", str(i)) for i in UNLISTED_INDICES]
    cameras: list[tuple[int, str, str]] = []
    if sysfs.is_dir():
        for entry in sysfs.iterdir():
            match = re.fullmatch(r"video(\d+)", entry.name)
            if match is None:
                continue
            name = _read(entry / "name") or entry.name
            index = _read(entry / "index")
            if index not in ("", "0") or name == CAMERA_NAME:
                continue
            device = str(dev / entry.name)
            cameras.append((int(match.group(1)), f"{name} ({device})", device))
    else:  # containers without sysfs: the device nodes are all there is
        for node in dev.glob("video*"):
            match = re.fullmatch(r"video(\d+)", node.name)
            if match is not None:
                cameras.append((int(match.group(1)), str(node), str(node)))
    return [(label, device) for _, label, device in sorted(cameras)]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
