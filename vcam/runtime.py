"""Process-wide settings of the camera: memory reuse, thread waits, and who gets which core.

**Memory.** Every stage of a frame makes temporaries the size of a frame plane (a 1280x720
float32 plane is 3.7 MB). glibc's ``malloc`` serves blocks that large with ``mmap`` and returns
them with ``munmap`` (or trims its heap back), so the next frame's temporaries are fresh pages
that the kernel zero-fills on first touch: measured here, two NumPy products of a 640x360 float
plane took 1.08 ms that way and 0.055 ms with the memory kept, and the 8-bit blend of a
1280x720 frame 7.6 ms against 1.3 ms. ``keep_freed_memory`` raises two thresholds so that
``malloc`` keeps and reuses those blocks; the process then holds its largest frame's working
set (tens of MB) instead of returning it between frames.

**Thread waits.** PyTorch's OpenMP threads spin while they wait for each other. When other
programs hold the cores (a call app, a browser), a spinning thread burns the time slice its
partner needs, and one harmonisation took 5.8 times as long beside two busy processes
(63 -> 367 ms); with ``OMP_WAIT_POLICY=PASSIVE`` waiting threads sleep, and it took 2.1 times as
long, a fair share of two cores (85 -> 176 ms). The policy is read when OpenMP starts, so
``passive_thread_waits`` must run before ``torch`` is imported.

**Cores.** With the network on its own thread (the live camera's default on a CPU), the network
and the frame path each get one thread (``split_threads``): PyTorch, ONNX Runtime and OpenCV
then do not spread every operation over both cores and wait for the one the other is using.
Measured at 640x480 beside two busy processes: the frame path kept 29.2 of 30 FPS (26.4 with
two threads each) and the network ran 5.5 times a second (4.2).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger(__name__)

#: ``mallopt`` parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks below this come from the heap, not ``mmap``: glibc's largest allowed value on 64-bit
#: systems, above a 1920x1080 float32 RGB plane (24.9 MB).
MMAP_THRESHOLD = 32 * 1024 * 1024

#: Free memory at the top of the heap is returned to the kernel only beyond this.
TRIM_THRESHOLD = 256 * 1024 * 1024

_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's ``malloc`` for frame-sized temporaries (see the module); once per process.

    Returns True when the thresholds were set, False elsewhere (not Linux, another C library,
    or ``mallopt`` refused), which only costs speed.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if not ok:
        logger.debug("mallopt refused the thresholds; frame temporaries stay mmapped")
        return False
    _done = True
    return True


def passive_thread_waits() -> bool:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy; True when it can still take
    effect (``torch`` not imported yet)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules


def prepare_process() -> None:
    """What ``phnet-cam`` does first: ``keep_freed_memory`` and ``passive_thread_waits``."""
    keep_freed_memory()
    if not passive_thread_waits():
        logger.debug("torch was imported before the thread wait policy could be set")


_defaults: dict[str, int] = {}


def split_threads(network_thread: bool) -> tuple[int, int]:
    """Threads of PyTorch's and OpenCV's pools: one each when the network has a thread of its
    own (it takes one core, the frame path the other), else their defaults. Returns (torch,
    OpenCV) threads now (torch 0 when it is not imported).

    Both settings are process-wide. PyTorch applies its count to a thread when that thread
    first runs an operation, so call this before the network thread's first frame.
    """
    import cv2

    torch = sys.modules.get("torch")
    _defaults.setdefault("cv2", cv2.getNumThreads())
    cv2.setNumThreads(1 if network_thread else _defaults["cv2"])
    if torch is None:
        return 0, cv2.getNumThreads()
    _defaults.setdefault("torch", torch.get_num_threads())
    torch.set_num_threads(1 if network_thread else _defaults["torch"])
    return torch.get_num_threads(), cv2.getNumThreads()
