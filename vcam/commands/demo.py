"""``phnet-cam demo``: the built-in portrait -> phnet-demo.mp4 + phnet-demo.png, stage timings.

It checks everything it can before it writes, and replaces an existing output only when the run
succeeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import cv2
import numpy as np

from vcam.commands.common import (UserError, _describe_harmonisation, _positive_int, _settings,
                                  _size, add_stage_options)
from vcam.commands.offline import _frames, _run_offline
from vcam.commands.stopping import add_note

DEMO_VIDEO = "phnet-demo.mp4"
DEMO_PICTURE = "phnet-demo.png"


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", parents=parents,
                          help="run the built-in demo into phnet-demo.mp4 and phnet-demo.png")
    demo.add_argument("--frames", type=_positive_int, default=90, help="frames (default 90)")
    demo.add_argument("--size", type=_size, default=(640, 480), metavar="WxH",
                      help="frame size (default 640x480)")
    demo.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                      help="output folder (default: the current one)")
    add_stage_options(demo)


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

    before = [str(p) for p in (video_path, picture_path) if p.exists()]
    left = (f"nothing was written to {out_dir}" if not before else
            f"{before[0]} was left as it was" if len(before) == 1 else
            f"{' and '.join(before)} were left as they were")
    try:
        run = _run_offline(source, open_recorder, settings, on_frame=keep)
        result = kept.get("middle")
        if result is not None:
            _write_png(picture_path, _panels(result, _method_label(run.info)))
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: the temporary files are gone
        add_note(exc, left)
        raise
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


def _method_label(info: dict) -> str:
    method = str(info.get("method", "?"))
    return {"colortransfer": "colour transfer", "phnet": "PHNet", "off": "off"}.get(method, method)


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
