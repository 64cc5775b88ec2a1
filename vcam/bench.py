"""``phnet-cam bench``: the pipeline's speed, the CPU it takes at a camera's rate, and how it
holds up on a busy machine.

Every row (a frame size and a harmonisation setting) runs on the same demo frames, rendered
before any timing (their rendering is never timed), and is measured three ways:

1. **flat out**: ``Pipeline.process_one`` on one frame after another: per-stage medians, FPS,
   p95 latency, and CPU % (process CPU time, all threads, over the time in ``process_one``);
2. **paced at 30 FPS**: a frame is due every 1/30 s, as from a camera, and one that comes due
   while the last is still being processed is dropped, as the live pipeline drops it: the
   rate reached and the **cores used** (process CPU time over wall time). This is what a user
   in a call feels beside the conferencing app;
3. with ``--load N``: both again while N busy processes (``multiprocessing``, started and
   stopped here) take the CPU, a stand-in for the call app and a browser; the row's slowdown
   is its idle flat-out rate over the loaded one, measured in the same invocation.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Stages in the tables, in pipeline order.
STAGES = ("segmentation", "mask", "background", "composite", "harmonise")

SIZES = ((640, 480), (1280, 720))

#: Harmonisation settings timed by the bench: name -> (mode, HarmoniseConfig fields).
VARIANTS: dict[str, tuple[str, dict]] = {
    "off": ("off", {}),
    "light": ("light", {}),
    "colortransfer": ("colortransfer", {}),
    "phnet-torch": ("phnet", {"backend": "torch", "network_thread": "off"}),
    "phnet-ort": ("phnet", {"backend": "onnxruntime", "network_thread": "off"}),
    "phnet-torch-every3": ("phnet", {"backend": "torch", "network_every": 3,
                                     "network_thread": "off"}),
    # At 30 FPS, three network runs a second: what a network bounded to ~3 runs a second costs.
    "phnet-torch-every10": ("phnet", {"backend": "torch", "network_every": 10,
                                      "network_thread": "off"}),
    # The network thread as fast as it can (before its bounded rate), then at its default rate.
    "phnet-torch-thread-unbounded": ("phnet", {"backend": "torch", "network_thread": "on",
                                               "network_rate": 0.0}),
    "phnet-torch-thread": ("phnet", {"backend": "torch", "network_thread": "on"}),
    "phnet-ort-thread": ("phnet", {"backend": "onnxruntime", "network_thread": "on"}),
}

WARMUP_FRAMES = 5
#: Demo frames rendered before a size's rows, at most; more frames a row repeat them (so that
#: ``--frames`` never asks for more memory than this many frames).
RENDERED_FRAMES = 120
PACED_FPS = 30.0

#: ``--load`` at most this many busy processes.
MAX_LOAD = 16

#: A busy process stops by itself after this long, whatever happens to the bench.
LOAD_LIFETIME_S = 900.0


# ------------------------------------------------------------------------------ the busy load


def _busy(stop, started, lifetime_s: float) -> None:
    """One busy process: spin until ``stop`` is set (or ``lifetime_s`` passes)."""
    started.release()
    deadline = time.monotonic() + lifetime_s
    while not stop.is_set() and time.monotonic() < deadline:
        for _ in range(200_000):
            pass


class BusyLoad:
    """``n`` processes that each keep one core busy, for the length of a ``with`` block.

    They are ``spawn``-ed (a fresh interpreter, nothing of this process's threads), the block
    starts once all of them run, and they stop at its end (or after ``LOAD_LIFETIME_S``, or
    with this process: they are daemons).

    Raises:
        ValueError: ``n`` is not in [0, ``MAX_LOAD``].
        RuntimeError: they did not start within 30 s.
    """

    def __init__(self, n: int) -> None:
        if not 0 <= n <= MAX_LOAD:
            raise ValueError(f"load must be in [0, {MAX_LOAD}] busy processes, got {n}")
        self.n = n
        self._procs: list = []
        self._stop = None

    def __enter__(self) -> BusyLoad:
        if self.n == 0:
            return self
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        started = ctx.Semaphore(0)
        try:
            for _ in range(self.n):
                proc = ctx.Process(target=_busy, args=(self._stop, started, LOAD_LIFETIME_S),
                                   name="phnet-bench-load", daemon=True)
                proc.start()
                self._procs.append(proc)
            deadline = time.monotonic() + 30.0
            waiting = self.n
            while waiting:
                if started.acquire(timeout=0.1):
                    waiting -= 1
                    continue
                dead = [p.exitcode for p in self._procs if p.exitcode is not None]
                if dead:
                    raise RuntimeError(f"a busy process exited at start (exit code {dead[0]})")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {self.n} busy processes did not start within 30 s")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        time.sleep(0.3)  # let the scheduler spread them
        return self

    def __exit__(self, *exc) -> None:
        if self._stop is not None:
            self._stop.set()
        for proc in self._procs:
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5.0)
        self._procs = []


# ----------------------------------------------------------------------------- measurements


@dataclass
class Run:
    """One measurement of a row (idle or under load)."""

    stages: dict[str, float | None] = field(default_factory=dict)
    fps: float = float("nan")
    latency_p95: float = float("nan")
    cpu_percent: float = float("nan")
    network_runs_per_s: float | None = None
    frames_per_network_run: float | None = None
    paced_fps: float = float("nan")
    paced_cores: float = float("nan")


def _network_runs(pipeline) -> int:
    return int(pipeline.harmonise_info().get("network_runs", 0))


def flat_out(pipeline, frames: Sequence[np.ndarray], count: int, clock: list[int]) -> Run:
    """``count`` frames through ``process_one`` back to back after ``WARMUP_FRAMES``."""
    run = Run()
    latencies: list[float] = []
    cpu = 0.0
    runs_before = 0
    for index in range(WARMUP_FRAMES + count):
        frame = frames[clock[0] % len(frames)]
        clock[0] += 1
        start, start_cpu = time.perf_counter(), time.process_time()
        pipeline.process_one(frame, clock[0] / PACED_FPS)
        if index == WARMUP_FRAMES - 1:
            pipeline.stats.reset()
            runs_before = _network_runs(pipeline)
        elif index >= WARMUP_FRAMES:
            latencies.append(time.perf_counter() - start)
            cpu += time.process_time() - start_cpu  # every thread of the process
    busy = sum(latencies)
    snap = pipeline.stats.snapshot()
    runs = _network_runs(pipeline) - runs_before
    run.stages = {name: snap["stages"].get(name, {}).get("median_ms") for name in STAGES}
    run.fps = len(latencies) / busy if busy > 0 else float("nan")
    ordered = sorted(latencies)
    run.latency_p95 = 1000 * ordered[int(0.95 * (len(ordered) - 1))] if ordered else float("nan")
    run.cpu_percent = 100 * cpu / busy if busy > 0 else float("nan")
    if runs:
        run.network_runs_per_s = runs / busy
        run.frames_per_network_run = len(latencies) / runs
    return run


def paced(pipeline, frames: Sequence[np.ndarray], seconds: float, clock: list[int],
          fps: float = PACED_FPS, sleep: Callable[[float], None] = time.sleep,
          timer: Callable[[], float] = time.perf_counter) -> tuple[float, float]:
    """Frames due every ``1 / fps`` s for ``seconds``; one that comes due while the previous is
    still in ``process_one`` is dropped (the live pipeline keeps only the newest frame).

    Returns (frames processed per second, cores used: process CPU time / wall time).
    """
    period = 1.0 / fps
    start = due = timer()
    cpu_start = time.process_time()
    done = 0
    while True:
        now = timer()
        if now - start >= seconds:
            break
        if now < due:
            sleep(min(due - now, seconds - (now - start)))
            continue
        missed = int((now - due) / period)  # frames the camera delivered meanwhile
        due += (missed + 1) * period
        clock[0] += missed + 1
        pipeline.process_one(frames[clock[0] % len(frames)], clock[0] / fps)
        done += 1
    wall = timer() - start
    return done / wall, (time.process_time() - cpu_start) / wall


def render_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """``count`` frames of the demo source (seed 0), rendered now so no timing includes it."""
    from vcam.demo_source import DemoSource, DemoSourceConfig

    source = DemoSource(DemoSourceConfig(width=width, height=height, frames=count,
                                         realtime=False, seed=0))
    return [frame for frame, _ in source]


def bench_row(width: int, height: int, harmonise, frames: Sequence[np.ndarray], count: int,
              background=None, paced_seconds: float = 2.0, load: int = 0) -> dict:
    """One row: flat out and paced, idle, then (``load`` > 0) again beside ``load`` busy
    processes, on one pipeline (so the model loads once and its state carries on)."""
    import dataclasses

    from vcam.demo_source import DemoSource, DemoSourceConfig
    from vcam.pipeline import Pipeline, PipelineConfig

    load_before = _loadavg()
    config = PipelineConfig(harmonise=harmonise)
    if background is not None:
        config = dataclasses.replace(config, background=background)
    # The pipeline wants a source; the frames come from ``frames``.
    source = DemoSource(DemoSourceConfig(width=width, height=height, frames=0, realtime=False))
    clock = [0]
    with Pipeline(source, [], config) as pipeline:
        info = pipeline.harmonise_info()
        idle = flat_out(pipeline, frames, count, clock)
        if paced_seconds > 0:
            idle.paced_fps, idle.paced_cores = paced(pipeline, frames, paced_seconds, clock)
        loaded = None
        if load:
            with BusyLoad(load):
                loaded = flat_out(pipeline, frames, count, clock)
                if paced_seconds > 0:
                    loaded.paced_fps, loaded.paced_cores = paced(pipeline, frames,
                                                                 paced_seconds, clock)
        rss = rss_mib()
    return {
        "size": f"{width}x{height}",
        "harmonisation": label(harmonise.mode, info),
        "idle": idle,
        "loaded": loaded,
        "load": load,
        "rss_mib": rss,
        "loadavg": load_before,
    }


def _loadavg() -> float | None:
    """The system's 1-minute load average (other programs' demand too), where it exists."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def rss_mib() -> float:
    """Resident memory of this process now, in MiB (Linux /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def label(mode: str, info: dict) -> str:
    """The harmonisation column: what ran, as ``HarmoniseStage.info()`` says."""
    if mode == "off":
        return "off"
    method = str(info.get("method", "?"))
    text = {"colortransfer": "colour transfer", "phnet": "PHNet",
            "light": "light transfer"}.get(method, method)
    if mode == "phnet" and info.get("config"):
        text += f" {info['config']}"
        if info.get("resolution"):
            text += f" @{info['resolution']}"
        text += f" {info.get('backend', '')}"
        if info.get("network_thread"):
            rate = info.get("network_rate")
            text += f", network thread ≤{rate:g}/s" if rate else ", network thread, unbounded"
        elif info.get("network_every", 1) > 1:
            text += f", every {_ordinal(info['network_every'])} frame"
        else:
            text += ", every frame"
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ----------------------------------------------------------------------------------- tables


def _f(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    """The idle measurements, one line a row."""
    head = ["size", "harmonisation", *STAGES, "total ms", "FPS", "p95 latency ms", "CPU %",
            "cores at 30 FPS", "FPS reached at 30", "RSS MiB", "frames / network run"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for row in rows:
        run: Run = row["idle"]
        stages = list(run.stages.values())
        cells = [row["size"], row["harmonisation"], *(_f(v) for v in stages),
                 _f(sum(v for v in stages if v is not None)), _f(run.fps),
                 _f(run.latency_p95), _f(run.cpu_percent, 0), _f(run.paced_cores, 2),
                 _f(run.paced_fps), _f(row["rss_mib"], 0), _f(run.frames_per_network_run)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_table(rows: list[dict]) -> str:
    """Idle against loaded, one line a row (rows measured with ``load`` > 0)."""
    head = ["size", "harmonisation", "FPS idle", "FPS loaded", "slowdown", "harmonise ms idle",
            "harmonise ms loaded", "harmonisation slowdown", "network runs/s idle",
            "network runs/s loaded", "FPS reached at 30, loaded", "cores at 30 FPS, loaded"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for row in rows:
        idle: Run = row["idle"]
        loaded: Run | None = row["loaded"]
        if loaded is None:
            continue
        harm_idle, harm_loaded = idle.stages.get("harmonise"), loaded.stages.get("harmonise")
        # The network's own slowdown: runs a second on its thread (or every k-th frame), else
        # the harmonise stage's median (colour transfer, or the network on every frame).
        if idle.network_runs_per_s and loaded.network_runs_per_s:
            harm_slowdown = idle.network_runs_per_s / loaded.network_runs_per_s
        elif harm_idle and harm_loaded and harm_idle > 0.05:
            harm_slowdown = harm_loaded / harm_idle
        else:
            harm_slowdown = None
        cells = [row["size"], row["harmonisation"], _f(idle.fps), _f(loaded.fps),
                 _f(idle.fps / loaded.fps if loaded.fps > 0 else None, 2) + "x",
                 _f(harm_idle), _f(harm_loaded),
                 "-" if harm_slowdown is None else f"{harm_slowdown:.2f}x",
                 _f(idle.network_runs_per_s), _f(loaded.network_runs_per_s),
                 _f(loaded.paced_fps), _f(loaded.paced_cores, 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(rows: list[dict], path: Path) -> Path:
    """Stacked horizontal bars of per-stage milliseconds (idle), one bar per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['size']} {r['harmonisation']} ({r['idle'].fps:.1f} FPS)" for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.2))
    left = [0.0] * len(rows)
    for stage in STAGES:
        values = [r["idle"].stages.get(stage) or 0.0 for r in rows]
        ax.barh(labels, values, left=left, label=stage)
        left = [a + b for a, b in zip(left, values)]
    ax.axvline(1000 / 30, color="k", linestyle="--", linewidth=1, label="33 ms (30 FPS)")
    ax.set_xlabel("milliseconds per frame (medians per stage)")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# -------------------------------------------------------------------------------- the command


def run(sizes: Sequence[tuple[int, int]], variants: Sequence[str], frames: int, model: str,
        background=None, paced_seconds: float = 2.0, load: int = 0,
        progress: Callable[[str], None] | None = None) -> list[dict]:
    """Every size with every variant; ``model`` is the PHNet checkpoint for the PHNet rows."""
    from vcam.config import HarmoniseConfig

    rows = []
    for width, height in sizes:
        rendered = render_frames(width, height, min(max(frames, 30), RENDERED_FRAMES))
        for name in variants:
            mode, fields = VARIANTS[name]
            harmonise = HarmoniseConfig(mode=mode, model=model if mode == "phnet" else "",
                                        **fields)
            row = bench_row(width, height, harmonise, rendered, frames, background,
                            paced_seconds, load)
            rows.append(row)
            if progress is not None:
                text = (f"{row['size']} {row['harmonisation']}: {row['idle'].fps:.1f} fps, "
                        f"{row['idle'].paced_cores:.2f} cores at 30 fps")
                if row["loaded"] is not None:
                    text += f"; loaded {row['loaded'].fps:.1f} fps"
                progress(text)
    return rows


def notes(frames: int, paced_seconds: float, load: int, rows: Sequence[dict] = ()) -> str:
    """What the columns mean, printed under the tables."""
    import cv2

    text = (
        f"{frames} frames a row flat out after {WARMUP_FRAMES} warm-up frames, then "
        f"{paced_seconds:g} s paced at {PACED_FPS:g} FPS, on demo frames rendered beforehand "
        f"(at most {RENDERED_FRAMES}, repeated). "
        "Milliseconds are medians; FPS is frames / time in process_one (one frame at a time; "
        "the live pipeline overlaps capture and sending with processing). p95 latency: 95th "
        "percentile of one frame's time in process_one. CPU %: process CPU time (all threads) "
        "over that time, 100 = one core busy. Cores at 30 FPS: process CPU time / wall time "
        "while a frame is due every 1/30 s (frames that come due during a slow one are "
        "dropped; FPS reached says how many were processed). RSS: resident memory after the "
        "row. Frames / network run: how many frames share one run of PHNet."
    )
    if load:
        text += (
            f" Loaded: the same row again beside {load} busy processes; slowdown = idle FPS / "
            "loaded FPS; harmonisation slowdown = network runs a second idle / loaded (the "
            "harmonise stage's median where the network runs on every frame)."
        )
    # PyTorch only where a row loaded it: the camera install runs without it.
    torch = sys.modules.get("torch")
    torch_threads = (f"torch threads {torch.get_num_threads()}, " if torch is not None
                     else "")
    text += (f" {os.cpu_count()} logical CPUs; {torch_threads}OpenCV threads "
             f"{cv2.getNumThreads()} at the end (one each with a network thread, see "
             "vcam.runtime).")
    loads = [r["loadavg"] for r in rows if r.get("loadavg") is not None]
    if loads:
        text += (f" The machine's 1-minute load average before each row (idle rows included): "
                 f"{min(loads):.1f} to {max(loads):.1f}.")
    return text
