"""``phnet-cam process``: IN video -> OUT video, every frame.

It checks everything it can before it writes, and replaces an existing output only when the run
succeeds.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vcam.commands.common import (UserError, _describe_harmonisation, _positive_int, _settings,
                                  add_stage_options)
from vcam.commands.offline import _frames, _run_offline
from vcam.commands.stopping import add_note


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> None:
    process = sub.add_parser("process", parents=parents,
                             help="a video file through the pipeline into a video file")
    process.add_argument("input", type=Path, metavar="IN", help="input video file")
    process.add_argument("output", type=Path, metavar="OUT", help="output video (.mp4 or .avi)")
    process.add_argument("--frames", type=_positive_int, help="stop after this many frames")
    add_stage_options(process)


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
    kept = (f"{out_path} was left as it was" if out_path.exists()
            else f"nothing was written to {out_path}")
    try:
        run = _run_offline(
            source, lambda: RecorderSink(out_path, source.width, source.height, source.fps),
            settings, args.frames)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: the temporary file is gone
        add_note(exc, kept)
        raise
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
