"""``phnet-cam run``: webcam -> virtual camera "PHNet Camera", until Ctrl-C.

Ctrl-C, SIGTERM or SIGHUP stop it cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from vcam.arguments import deprecated_alias
from vcam.commands.common import (PROG, _describe_harmonisation, _pipeline_config, _settings,
                                  _size, add_stage_options)
from vcam.commands.stopping import on_stop_signals
from vcam.config import HARMONISE_BACKENDS


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", parents=parents,
                         help="webcam to the virtual camera, until Ctrl-C")
    run.add_argument("--camera", metavar="INDEX|PATH",
                     help="camera index or device (default 0), a video file, or 'demo'")
    run.add_argument("--size", type=_size, metavar="WxH", help="camera size (default 640x480)")
    run.add_argument("--vcam-device", metavar="NAME",
                     help="virtual camera device (default: the first available)")
    run.add_argument("--vcam-backend", type=_vcam_backend, metavar="NAME",
                     help="pyvirtualcam backend (default: each available in turn)")
    # The names before --vcam-*: --backend also reads as the harmoniser's.
    run.add_argument("--device", dest="vcam_device", help=argparse.SUPPRESS,
                     action=deprecated_alias("--vcam-device"))
    run.add_argument("--backend", dest="vcam_backend", type=_vcam_backend,
                     help=argparse.SUPPRESS, action=deprecated_alias("--vcam-backend"))
    run.add_argument("--no-person", choices=("background", "frame"), default="background",
                     help="show the background (default) or the camera picture when nobody is "
                     "in the frame")
    add_stage_options(run, camera=True)


def _vcam_backend(text: str) -> str:
    """``--vcam-backend``: a backend pyvirtualcam has on this system."""
    import pyvirtualcam

    known = list(pyvirtualcam.camera.BACKENDS)
    if text not in known:
        hint = ("; the harmoniser's backend is --harmonise-backend"
                if text in HARMONISE_BACKENDS else "")
        raise argparse.ArgumentTypeError(f"unknown virtual camera backend {text!r} (on this "
                                         f"system: {', '.join(known) or 'none'}){hint}")
    return text


def cmd_run(args: argparse.Namespace) -> int:
    from vcam.pipeline import Pipeline
    from vcam.sinks import VirtualCameraSink
    from vcam.sources import open_source

    settings = _settings(args)
    config = _pipeline_config(settings, no_person=args.no_person)
    source = open_source(settings.camera.device, settings.camera)
    try:
        sink = VirtualCameraSink(source.width, source.height, source.fps or settings.camera.fps,
                                 device=args.vcam_device, backend=args.vcam_backend)
    except BaseException:
        source.close()
        raise
    try:
        pipeline = Pipeline(source, [sink], config)
    except BaseException:
        source.close()
        sink.close()
        raise

    stop = threading.Event()
    try:
        with on_stop_signals(lambda _signum: stop.set()), pipeline:
            pipeline.start()
            print(f"PHNet Camera running: {source.width}x{source.height} at "
                  f"{pipeline.output_fps:.3g} fps to {sink.device} "
                  f"(harmonisation: {_describe_harmonisation(pipeline.harmonise_info())}). "
                  "Ctrl-C stops.", flush=True)
            last_report = time.perf_counter()
            while pipeline.running and not stop.wait(0.25):
                if time.perf_counter() - last_report >= 10.0:
                    last_report = time.perf_counter()
                    print(_status_line(pipeline.stats.snapshot()), flush=True)
    except KeyboardInterrupt:
        pass  # leaving the with block stopped the pipeline
    print(pipeline.stats.format_table())
    if pipeline.error is not None:
        print(f"{PROG}: error: the pipeline stopped: {type(pipeline.error).__name__}: "
              f"{' '.join(str(pipeline.error).split())}", file=sys.stderr)
        return 1
    print("stopped")
    return 0


def _status_line(snap: dict) -> str:
    fps = snap["fps"]
    lat = snap["latency"]["median_ms"]
    counters = snap["counters"]

    def rate(name: str) -> str:
        value = fps.get(name)
        return "-" if value is None else f"{value:.1f}"

    cores = snap.get("cpu_cores")
    return (f"processed {rate('processed')} fps, sent {rate('sent')} fps, latency "
            f"{'-' if lat is None else f'{lat:.0f}'} ms, "
            f"cpu {'-' if cores is None else f'{cores:.2f}'} cores, "
            f"dropped {counters.get('dropped', 0)}, "
            f"resent {counters.get('resent', 0)}, errors {counters.get('errors', 0)}")
