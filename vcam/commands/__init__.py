"""``phnet-cam``: the demo, the live virtual camera, video files, and the benchmark.

    phnet-cam demo      built-in portrait -> phnet-demo.mp4 + phnet-demo.png, stage timings
    phnet-cam run       webcam -> virtual camera "PHNet Camera", until Ctrl-C
    phnet-cam process   IN video -> OUT video, every frame
    phnet-cam bench     per-stage ms and FPS at 640x480 and 1280x720, as a Markdown table

Settings come from ``--config FILE`` (TOML, see ``vcam.settings``) and are overridden by flags.
Every error a user can cause (a setting out of range, a file that is missing or of the wrong
kind, a missing camera, no virtual camera device) is reported in one line on stderr naming the
input and what was expected, with exit code 2 (``-v`` adds the traceback); Ctrl-C stops ``run``
cleanly with exit code 0. ``demo`` and ``process`` check everything they can before they write,
and replace an existing output only when the run succeeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vcam.config import HARMONISE_MODES, NETWORK_THREAD_MODES, BackgroundConfig
from vcam.pipeline import PipelineConfig
from vcam.settings import Settings, SettingsError, load_settings
from vcam.sources import VIDEO_SUFFIXES

logger = logging.getLogger(__name__)

PROG = "phnet-cam"
DEMO_VIDEO = "phnet-demo.mp4"
DEMO_PICTURE = "phnet-demo.png"
EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix (a setting, a file, a device): shown as one line, exit 2."""


# ------------------------------------------------------------------------------ argument types


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be WIDTHxHEIGHT, e.g. 640x480, got {text!r}"
        ) from None
    return w, h


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def _bench_variants() -> list[str]:
    from vcam.bench import VARIANTS

    return list(VARIANTS)


def _load(text: str) -> int:
    from vcam.bench import MAX_LOAD

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_LOAD:
        raise argparse.ArgumentTypeError(
            f"must be a number of busy processes in [0, {MAX_LOAD}], got {text!r}")
    return value


def _sizes(text: str) -> list[tuple[int, int]]:
    return [_size(part) for part in text.split(",") if part.strip()]


def _variants(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    known = _bench_variants()
    for name in names:
        if name not in known:
            raise argparse.ArgumentTypeError(
                f"unknown row {name!r} (known: {', '.join(known)})")
    return names


def background_from_arg(value: str, base: BackgroundConfig | None = None) -> BackgroundConfig:
    """``--background``: ``blur``, ``none``, ``color`` or ``color:R,G,B``, a bundled picture's
    name (``dune``, ``storm``, ``meadow``), or an existing image or video file.

    Raises:
        UserError: anything else (the message lists what is accepted).
    """
    from vcam.images import BACKGROUND_PATHS

    base = base if base is not None else BackgroundConfig()
    key = value.strip()
    if key.lower() in ("blur", "none"):
        return dataclasses.replace(base, kind=key.lower(), path="")
    if key.lower() == "color" or key.lower().startswith("color:"):
        color = base.color
        if ":" in key:
            try:
                color = tuple(int(c) for c in key.split(":", 1)[1].split(","))
            except ValueError:
                raise UserError(
                    f"--background color:R,G,B needs three integers in [0, 255], got {value!r}"
                ) from None
        return dataclasses.replace(base, kind="color", path="", color=color)
    if key.lower() in BACKGROUND_PATHS:
        return dataclasses.replace(base, kind="image", path=str(BACKGROUND_PATHS[key.lower()]))
    if not Path(key).is_file():
        what = "no such file" if Path(key).suffix or not key else "not a name it knows"
        raise UserError(
            f"--background {value}: {what}; expected an image or video file, a bundled "
            f"picture ({', '.join(BACKGROUND_PATHS)}), blur, none, color or color:R,G,B"
        )
    kind = "video" if Path(key).suffix.lower() in VIDEO_SUFFIXES else "image"
    return dataclasses.replace(base, kind=kind, path=key)


# --------------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="PHNet Camera: a virtual camera that harmonises you to your background.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v: info, -vv: debug)")
    stages = argparse.ArgumentParser(add_help=False)
    stages.add_argument("--config", metavar="FILE", help="settings file (TOML); flags override it")
    stages.add_argument(
        "--background", metavar="PATH|blur|color|none",
        help="background: an image or video file, a bundled picture (dune, storm, meadow), "
        "blur, none, color or color:R,G,B",
    )
    stages.add_argument("--mode", choices=HARMONISE_MODES,
                        help="harmonisation (phnet falls back to colour transfer without a model)")
    stages.add_argument("--model", metavar="PATH", help="PHNet checkpoint (.safetensors or .onnx)")
    stages.add_argument("--network-every", type=_positive_int, metavar="K",
                        help="run PHNet on every K-th frame and reuse its colour model between")
    stages.add_argument("--network-thread", nargs="?", const="on", choices=NETWORK_THREAD_MODES,
                        help="on: run PHNet on its own thread, every frame uses its latest colour "
                        "model (the fastest mode on a CPU); off: in the frame's path; auto "
                        "(default for run and panel): on when PHNet runs on the CPU. demo and "
                        "process run it on every frame unless told otherwise")
    stages.add_argument("--network-rate", type=float, metavar="R",
                        help="with the network thread: PHNet runs at most R times a second "
                        "(default 3; 0 = as often as it can), and at once when the light or the "
                        "person's place changes")

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("panel", help="open the control panel (the default with no command); "
                   "panel --help lists its options", add_help=False)

    demo = sub.add_parser("demo", parents=[common, stages],
                          help="run the built-in demo into phnet-demo.mp4 and phnet-demo.png")
    demo.add_argument("--frames", type=_positive_int, default=90, help="frames (default 90)")
    demo.add_argument("--size", type=_size, default=(640, 480), metavar="WxH",
                      help="frame size (default 640x480)")
    demo.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                      help="output folder (default: the current one)")

    run = sub.add_parser("run", parents=[common, stages],
                         help="webcam to the virtual camera, until Ctrl-C")
    run.add_argument("--camera", metavar="INDEX|PATH",
                     help="camera index or device (default 0), a video file, or 'demo'")
    run.add_argument("--size", type=_size, metavar="WxH", help="camera size (default 640x480)")
    run.add_argument("--fps", type=_number, help="camera frame rate (default 30)")
    run.add_argument("--mirror", action="store_true", default=None, help="flip horizontally")
    run.add_argument("--no-harmonise", action="store_true", help="same as --mode off")
    run.add_argument("--device", metavar="NAME",
                     help="virtual camera device (default: the first available)")
    run.add_argument("--backend", metavar="NAME",
                     help="pyvirtualcam backend (default: each available in turn)")
    run.add_argument("--no-person", choices=("background", "frame"), default="background",
                     help="show the background (default) or the camera picture when nobody is "
                     "in the frame")

    process = sub.add_parser("process", parents=[common, stages],
                             help="a video file through the pipeline into a video file")
    process.add_argument("input", type=Path, metavar="IN", help="input video file")
    process.add_argument("output", type=Path, metavar="OUT", help="output video (.mp4 or .avi)")
    process.add_argument("--frames", type=_positive_int, help="stop after this many frames")

    bench = sub.add_parser("bench", parents=[common],
                           help="per-stage ms, FPS and cores at 30 FPS at 640x480 and 1280x720")
    bench.add_argument("--frames", type=_positive_int, default=60,
                       help="frames measured per row (default 60)")
    bench.add_argument("--model", metavar="PATH", help="PHNet checkpoint to time")
    bench.add_argument("--chart", type=Path, metavar="PNG",
                       help="also draw the per-stage milliseconds as a bar chart (PNG)")
    bench.add_argument("--load", type=_load, default=0, metavar="N",
                       help="also run every row beside N busy processes (a stand-in for the call "
                       "app) and report its slowdown against the idle run (default 0: idle only)")
    bench.add_argument("--sizes", type=_sizes, metavar="WxH[,WxH...]",
                       help="frame sizes (default 640x480,1280x720)")
    bench.add_argument("--variants", type=_variants, metavar="NAME[,NAME...]",
                       help="harmonisation rows (default: all of " + ", ".join(_bench_variants())
                       + ")")
    bench.add_argument("--background", metavar="PATH|blur|color|none",
                       help="background of every row (default: the first bundled picture)")
    bench.add_argument("--paced-seconds", type=_number, default=2.0, metavar="S",
                       help="seconds each row runs paced at 30 FPS for its cores (default 2; 0 "
                       "skips it)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    """The config file (or the defaults), then every flag that was given.

    Raises:
        UserError: a flag's value is refused (the message names the setting and its range).
        SettingsError: the config file is refused.
    """
    try:
        return _merge_settings(args)
    except SettingsError:
        raise
    except ValueError as exc:  # the configs' checks name the field and the allowed range
        raise UserError(str(exc)) from exc


def _merge_settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config) if getattr(args, "config", None) else Settings()
    camera, background, harmonise = settings.camera, settings.background, settings.harmonise
    if getattr(args, "camera", None) is not None:
        camera = dataclasses.replace(camera, device=args.camera)
    if getattr(args, "size", None) is not None:
        camera = dataclasses.replace(camera, width=args.size[0], height=args.size[1])
    if getattr(args, "fps", None) is not None:
        camera = dataclasses.replace(camera, fps=args.fps)
    if getattr(args, "mirror", None):
        camera = dataclasses.replace(camera, mirror=True)
    if getattr(args, "background", None) is not None:
        background = background_from_arg(args.background, background)
    if getattr(args, "mode", None) is not None:
        harmonise = dataclasses.replace(harmonise, mode=args.mode)
    if getattr(args, "no_harmonise", False):
        harmonise = dataclasses.replace(harmonise, mode="off")
    if getattr(args, "model", None) is not None:
        harmonise = dataclasses.replace(harmonise, model=args.model)
    if getattr(args, "network_every", None) is not None:
        harmonise = dataclasses.replace(harmonise, network_every=args.network_every)
    if getattr(args, "network_rate", None) is not None:
        harmonise = dataclasses.replace(harmonise, network_rate=args.network_rate)
    if getattr(args, "network_thread", None) is not None:
        harmonise = dataclasses.replace(harmonise, network_thread=args.network_thread)
    elif getattr(args, "command", None) in ("demo", "process") and harmonise.network_thread == "auto":
        # Offline work is judged by its pictures, not its rate: the network sees every frame.
        harmonise = dataclasses.replace(harmonise, network_thread="off")
    return dataclasses.replace(settings, camera=camera, background=background,
                               harmonise=harmonise)


def _pipeline_config(settings: Settings, **extra) -> PipelineConfig:
    try:
        return PipelineConfig(camera=settings.camera, mask=settings.mask,
                              background=settings.background, harmonise=settings.harmonise,
                              **extra)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "fix a setting, a file or a device", not "bug"."""
    from vcam.backgrounds import BackgroundError
    from vcam.sinks import SinkError
    from vcam.sources import SourceError

    from vcam.harmonise_stage import HarmoniseError

    return (UserError, SettingsError, SourceError, SinkError, BackgroundError, HarmoniseError,
            FileNotFoundError)


# ------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``phnet-cam`` with ``argv`` (default: the command line); returns the exit code.

    No command, or ``panel``, opens the Qt control panel (its own options follow ``panel``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    from vcam.runtime import prepare_process

    prepare_process()  # memory reuse and sleeping thread waits, before torch is imported
    if not argv or argv[0] == "panel":
        from vcam.panel import main as panel_main

        return panel_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    commands = {"demo": cmd_demo, "run": cmd_run, "process": cmd_process, "bench": cmd_bench}
    try:
        user_errors = _user_errors()
        try:
            return commands[args.command](args)
        except user_errors as exc:
            return _fail(exc)
    except KeyboardInterrupt:
        # Ctrl-C outside run's loop (while loading, say): nothing was left running.
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _fail(exc: BaseException) -> int:
    message = " ".join(str(exc).split()) or type(exc).__name__  # always one line
    print(f"{PROG}: error: {message}", file=sys.stderr)
    logger.info("the error in full (shown with -v)", exc_info=exc)
    return EXIT_USAGE


def _setup_logging(verbose: int) -> None:
    """Our warnings and errors only; ``-v`` adds information and the native libraries' own
    lines (MediaPipe, TensorFlow Lite, OpenCV), ``-vv`` debugging."""
    from vcam import native

    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    native.configure(verbose)


# --------------------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from vcam.demo_source import DemoSource, DemoSourceConfig
    from vcam.pipeline import FrameResult
    from vcam.sinks import RecorderSink

    began = time.perf_counter()
    settings = _settings(args)
    width, height = args.size
    if width % 2 or height % 2:
        raise UserError(f"--size {width}x{height}: the demo video (MPEG-4) needs an even width "
                        f"and height, e.g. {width + width % 2}x{height + height % 2}")
    settings = dataclasses.replace(
        settings, camera=dataclasses.replace(settings.camera, width=width, height=height)
    )
    fps = settings.camera.fps
    out_dir: Path = args.out
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: expected a folder, got a file")
    video_path, picture_path = out_dir / DEMO_VIDEO, out_dir / DEMO_PICTURE

    source = DemoSource(DemoSourceConfig(width=width, height=height, fps=fps,
                                         frames=args.frames, realtime=False, seed=0))
    middle = args.frames // 2
    kept: dict[str, FrameResult] = {}

    def keep(index: int, result: FrameResult) -> None:
        if index == middle:
            kept["middle"] = result

    def open_recorder() -> RecorderSink:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--out {out_dir}: cannot create the folder: "
                            f"{exc.strerror or exc}") from exc
        return RecorderSink(video_path, width, height, fps)

    run = _run_offline(source, open_recorder, settings, on_frame=keep)
    result = kept.get("middle")
    if result is not None:
        _write_png(picture_path, _panels(result, _method_label(run.info)))
    done = time.perf_counter()

    print(f"PHNet Camera demo: {_frames(run.count)} at {width}x{height}, {done - began:.1f} s "
          "in all, one frame at a time:")
    print(f"  {'start-up':<18}{run.started - began:6.1f} s  (loading the models and the "
          "background, opening the video)")
    print(f"  {'first frame':<18}{run.first_done - run.started:6.1f} s  (warm-up: the first run "
          "of each model)")
    if run.steady_frames:
        print(f"  {f'other {run.steady_frames} frames':<18}{run.finished - run.first_done:6.1f} s"
              f"  = {run.ms_per_frame:.1f} ms a frame, {1000.0 / run.ms_per_frame:.1f} fps "
              "(the stages below)")
    print(f"  {'finishing':<18}{done - run.finished:6.1f} s  (closing the video, writing the "
          "picture)")
    print(f"harmonisation: {_describe_harmonisation(run.info)}")
    print(run.table)
    print(f"wrote {video_path}")
    if result is not None:
        print(f"wrote {picture_path} (camera | composite | harmonised, frame {middle})")
    return 0


@dataclasses.dataclass(frozen=True)
class OfflineRun:
    """What ``_run_offline`` measured (``perf_counter`` seconds): the pipeline was built at
    ``started``, the first frame was done at ``first_done``, the rest at ``finished``;
    ``ms_per_frame`` and the stage table cover the frames after the first (the first one alone
    when there is no other)."""

    info: dict
    count: int
    started: float
    first_done: float
    finished: float
    ms_per_frame: float
    table: str

    @property
    def steady_frames(self) -> int:
        return max(self.count - 1, 0)


# Stages of an offline run, in order, with what they are when it is not obvious.
_OFFLINE_STAGES = (("capture", "reading the source"), ("segmentation", ""), ("mask", ""),
                   ("background", ""), ("composite", ""), ("harmonise", ""),
                   ("send", "writing the video"))


def _run_offline(source, open_recorder, settings: Settings, frames: int | None = None,
                 on_frame=None) -> OfflineRun:
    """Every frame of ``source`` through the pipeline into the recorder ``open_recorder()``
    returns, one at a time.

    The recorder is opened only once the pipeline is built (the model, the background and the
    segmenter are checked), and its file replaces the target only when every frame went
    through: a refused setting, an error or Ctrl-C leaves the target as it was.

    The first frame is timed apart (it pays for the models' warm-up); the stage table gives the
    milliseconds each stage adds to an output frame after it, and "other" the rest of the
    frame's time, so the table adds up to the time per frame.
    """
    from vcam.pipeline import Pipeline

    try:
        pipeline = Pipeline(source, [], _pipeline_config(settings))
    except BaseException:
        source.close()
        raise
    with pipeline:
        recorder = open_recorder()
        pipeline.add_sink(recorder)  # the pipeline closes it, dropping it unless committed
        info = pipeline.harmonise_info()
        first: dict = {}

        def frame_done(index: int, result) -> None:
            if on_frame is not None:
                on_frame(index, result)
            if index == 0:
                first["done"] = time.perf_counter()
                first["stats"] = pipeline.stats.snapshot()
                pipeline.stats.reset()  # the table: the frames after the warm-up

        started = time.perf_counter()
        count = pipeline.run_offline(frames, on_frame=frame_done)
        finished = time.perf_counter()
        if recorder.frames_written != count:  # the pipeline logged why
            raise UserError(f"only {recorder.frames_written} of {count} frames could be written "
                            f"to {recorder.path}; it was left as it was")
        recorder.commit()
        first_done = first.get("done", finished)
        if count > 1:
            timed, seconds, snap = count - 1, finished - first_done, pipeline.stats.snapshot()
        else:  # nothing after the first frame: its own figures
            timed, seconds, snap = count, first_done - started, first.get("stats")
        ms_per_frame = 1000.0 * seconds / timed if timed else float("nan")
        table = _offline_table(snap, timed, ms_per_frame) if snap else ""
        return OfflineRun(info, count, started, first_done, finished, ms_per_frame, table)


def _offline_table(snap: dict, frames: int, ms_per_frame: float) -> str:
    """Milliseconds each stage adds to an output frame (its total time over ``frames``), its
    median, and "other": what the stages do not account for, so that the column adds up."""
    lines = [f"{'stage':<14}{'ms a frame':>11}{'median ms':>11}"]
    accounted = 0.0
    for name, note in _OFFLINE_STAGES:
        stage = snap["stages"].get(name)
        if stage is None or not frames:
            continue
        share = stage["total_ms"] / frames
        accounted += share
        median = "-" if stage["median_ms"] is None else f"{stage['median_ms']:.1f}"
        lines.append(f"{name:<14}{share:>11.1f}{median:>11}" + (f"   {note}" if note else ""))
    if frames:
        lines.append(f"{'other':<14}{ms_per_frame - accounted:>11.1f}{'-':>11}   the loop "
                     "between the stages")
        lines.append(f"{'total':<14}{ms_per_frame:>11.1f}{'':>11}   = "
                     f"{1000.0 / ms_per_frame:.1f} fps over {_frames(frames)}")
    return "\n".join(lines)


def _frames(n: int) -> str:
    return f"{n} frame" if n == 1 else f"{n} frames"


def _method_label(info: dict) -> str:
    method = str(info.get("method", "?"))
    return {"colortransfer": "colour transfer", "phnet": "PHNet", "off": "off"}.get(method, method)


def _describe_harmonisation(info: dict) -> str:
    """One honest line: what runs, where, and why it is not PHNet when PHNet was asked for."""
    method = info.get("method")
    if method == "off":
        return "off (the plain composite)"
    if method == "phnet":
        text = (f"PHNet {info.get('config', '?')} on {info.get('backend', '?')} "
                f"{info.get('device', '?')} {info.get('dtype', '')}".rstrip())
        text += f", {info.get('resolution', '?')} px, checkpoint {info.get('checkpoint', '?')}"
        if info.get("fallback"):  # the GPU was asked for and did not start
            text += f", NOT on the GPU: {info['fallback']}"
    elif method == "colortransfer":
        text = "colour transfer (Reinhard, masked, in Lab)"
    else:
        text = str(method)
    if info.get("mode") == "phnet" and method != "phnet":
        text += f", NOT PHNet: {info.get('fallback', 'PHNet could not run')}"
    if "momentum" in info:
        text += f"; temporal momentum {info['momentum']}"
    if info.get("strength", 1.0) != 1.0:
        text += f"; strength {info['strength']}"
    return text


def _panels(result, harmonised_label: str) -> np.ndarray:
    """camera | composite | harmonised, side by side, each with a label bar above it."""
    panels = [
        (result.frame, "camera"),
        (result.composite, "composite"),
        (result.output, f"harmonised ({harmonised_label})"),
    ]
    height, width = result.frame.shape[:2]
    bar = max(24, height // 16)
    gap = max(4, width // 160)
    canvas = np.full((height + bar, 3 * width + 2 * gap, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, round(bar / 24))
    margin = bar // 3
    for i, (image, label) in enumerate(panels):
        x = i * (width + gap)
        canvas[bar:, x : x + width] = image
        # As large as the bar allows, smaller where the panel is too narrow for the label: a
        # label never runs into the next panel or off the picture.
        scale = bar / 40.0
        (text_w, _), _ = cv2.getTextSize(label, font, scale, thickness)
        scale *= min(1.0, max(width - 2 * margin, 8) / max(text_w, 1))
        (_, text_h), _ = cv2.getTextSize(label, font, scale, thickness)
        cv2.putText(canvas, label, (x + margin, (bar + text_h) // 2), font, scale,
                    (20, 20, 20), thickness, cv2.LINE_AA)
    return canvas


def _write_png(path: Path, rgb: np.ndarray) -> None:
    from vcam.files import write_bytes_atomically

    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"cannot encode {path}")
    # Bytes through Python instead of imwrite: imwrite cannot open non-ASCII paths on Windows.
    write_bytes_atomically(path, data.tobytes())


# ---------------------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    from vcam.pipeline import Pipeline
    from vcam.sinks import VirtualCameraSink
    from vcam.sources import open_source

    settings = _settings(args)
    config = _pipeline_config(settings, no_person=args.no_person)
    source = open_source(settings.camera.device, settings.camera)
    try:
        sink = VirtualCameraSink(source.width, source.height, source.fps or settings.camera.fps,
                                 device=args.device, backend=args.backend)
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
    previous = _on_sigterm(stop)
    try:
        with pipeline:
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
    finally:
        _restore_sigterm(previous)
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


def _on_sigterm(stop: threading.Event):
    """SIGTERM (a service manager, ``kill``) stops like Ctrl-C; only the main thread may set it."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------------------ process


def cmd_process(args: argparse.Namespace) -> int:
    from vcam.sinks import RecorderSink, check_recording
    from vcam.sources import VideoFileSource

    settings = _settings(args)
    source_path, out_path = Path(args.input), Path(args.output)
    # Identity, not spelling: a hard link or a symlink to IN names the same file.
    if out_path.exists() and source_path.exists() and os.path.samefile(source_path, out_path):
        raise UserError(f"the output {out_path} would overwrite the input {source_path}")
    source = VideoFileSource(source_path, loop=False, realtime=False)
    try:
        check_recording(out_path, source.width, source.height, source.fps)
    except ValueError as exc:
        source.close()
        raise UserError(str(exc)) from exc
    except BaseException:
        source.close()
        raise
    run = _run_offline(
        source, lambda: RecorderSink(out_path, source.width, source.height, source.fps),
        settings, args.frames)
    line = (f"processed {_frames(run.count)} of {source_path} at {source.width}x{source.height} "
            f"in {run.finished - run.started:.1f} s (first frame "
            f"{run.first_done - run.started:.1f} s")
    if run.steady_frames:
        line += f", then {1000.0 / run.ms_per_frame:.1f} fps"
    print(line + ")")
    print(f"harmonisation: {_describe_harmonisation(run.info)}")
    print(run.table)
    print(f"wrote {out_path}")
    return 0


# -------------------------------------------------------------------------------------- bench


def cmd_bench(args: argparse.Namespace) -> int:
    from phnet.runners import torch_installed
    from vcam import bench

    notes: list[str] = []
    # No --model: each row runs the bundled model in its backend's form (the ONNX graph on ONNX
    # Runtime, the checkpoint on PyTorch).
    model = args.model or ""
    background = background_from_arg(args.background) if args.background else None
    sizes = args.sizes or list(bench.SIZES)
    variants = args.variants or list(bench.VARIANTS)
    if args.paced_seconds < 0:
        raise UserError(f"--paced-seconds must be >= 0, got {args.paced_seconds:g}")
    if not torch_installed():
        variants = [v for v in variants if bench.VARIANTS[v][1].get("backend") != "torch"]
        notes.append("PyTorch rows: skipped, PyTorch is not installed (the camera runs ONNX "
                     "Runtime without it).")
    rows = bench.run(sizes, variants, args.frames, model, background, args.paced_seconds,
                     args.load, progress=lambda text: print("  " + text, file=sys.stderr,
                                                            flush=True))
    print(bench.table(rows))
    if args.load:
        print()
        print(f"Beside {args.load} busy processes:")
        print()
        print(bench.load_table(rows))
    if args.chart:
        print(f"wrote {bench.chart(rows, args.chart)}")
    print()
    print(bench.notes(args.frames, args.paced_seconds, args.load, rows))
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
