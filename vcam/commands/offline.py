"""What ``demo`` and ``process`` share: every frame of a source through the pipeline into a
recorder, one at a time, timed stage by stage."""

from __future__ import annotations

import dataclasses
import time

from vcam.commands.common import UserError, _pipeline_config
from vcam.settings import Settings


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
