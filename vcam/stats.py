"""Timing of a running pipeline: milliseconds per stage, frame rates, latency and event counts.

Every thread of the pipeline writes here and the panel or the command line reads a snapshot, so
all methods are thread-safe. Times come from ``time.perf_counter`` (monotonic); a stage's time is
summarised three times: as an exponential moving average (what the panel shows: steady, recent),
as the median over a window of recent frames (what benchmarks report: robust to a hiccup), and
as the total since the last reset (what a run's time per frame adds up from).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

#: Stage names in pipeline order; other names are accepted and listed after these.
STAGES = ("capture", "segmentation", "mask", "background", "composite", "harmonise", "send")


class _Series:
    """EMA and windowed median of one quantity (milliseconds)."""

    __slots__ = ("ema", "window", "count", "total", "_alpha")

    def __init__(self, window: int, alpha: float) -> None:
        self.ema: float | None = None
        self.window: deque[float] = deque(maxlen=window)
        self.count = 0
        self.total = 0.0
        self._alpha = alpha

    def add(self, value: float) -> None:
        self.ema = value if self.ema is None else self.ema + self._alpha * (value - self.ema)
        self.window.append(value)
        self.count += 1
        self.total += value

    def summary(self) -> dict[str, float | int | None]:
        median = statistics.median(self.window) if self.window else None
        return {"ema_ms": self.ema, "median_ms": median, "count": self.count,
                "total_ms": self.total}


class _Rate:
    """Events per second over the last ``window`` events, from their perf_counter times."""

    __slots__ = ("times", "count")

    def __init__(self, window: int) -> None:
        self.times: deque[float] = deque(maxlen=window)
        self.count = 0

    def tick(self, now: float) -> None:
        self.times.append(now)
        self.count += 1

    def fps(self, now: float, stale_after: float) -> float | None:
        if len(self.times) < 2:
            return None
        # A stream that stopped reads as stopped, not as the rate it had before it stopped.
        if now - self.times[-1] > stale_after:
            return 0.0
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else None


class _CpuMeter:
    """Cores the whole process uses: its CPU time over wall time, over the last ``window_s``.

    Sampled at most every ``every_s`` when a frame ticks, and once more when read, so the
    figure covers the recent past whatever the frame rate."""

    __slots__ = ("samples", "window_s", "every_s")

    def __init__(self, window_s: float = 5.0, every_s: float = 0.25) -> None:
        self.window_s = window_s
        self.every_s = every_s
        self.samples: deque[tuple[float, float]] = deque()

    def sample(self, now: float) -> None:
        samples = self.samples
        if samples and now - samples[-1][0] < self.every_s:
            return
        samples.append((now, time.process_time()))
        while len(samples) > 2 and now - samples[1][0] >= self.window_s:
            samples.popleft()

    def cores(self, now: float) -> float | None:
        if not self.samples:
            return None
        start, start_cpu = self.samples[0]
        span = now - start
        if span < self.every_s:
            return None
        return (time.process_time() - start_cpu) / span


class PipelineStats:
    """Thread-safe recorder of per-stage milliseconds, frame rates, latency and counters.

    Args:
        window: how many recent values the medians and rates are computed over.
        ema_alpha: weight of the newest value in the moving averages, in (0, 1].
        stale_after_s: a rate whose last event is older than this reads as 0 fps.

    Usage::

        stats = PipelineStats()
        with stats.time("segmentation"):
            mask = segmenter(frame, t)
        stats.tick("processed")
        stats.add_latency(ms)
        stats.count("dropped")
        print(stats.format_table())
    """

    def __init__(self, window: int = 120, ema_alpha: float = 0.1, stale_after_s: float = 2.0):
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        if not 0.0 < ema_alpha <= 1.0:
            raise ValueError(f"ema_alpha must be in (0, 1], got {ema_alpha}")
        self._window = window
        self._alpha = ema_alpha
        self._stale = stale_after_s
        self._lock = threading.Lock()
        self._stages: dict[str, _Series] = {}
        self._rates: dict[str, _Rate] = {}
        self._latency = _Series(window, ema_alpha)
        self._counters: dict[str, int] = {}
        self._cpu = _CpuMeter()
        self._started = time.perf_counter()

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._stages.clear()
            self._rates.clear()
            self._latency = _Series(self._window, self._alpha)
            self._counters.clear()
            self._cpu = _CpuMeter()
            self._started = time.perf_counter()

    def record(self, stage: str, ms: float) -> None:
        """Add one measurement of ``stage``, in milliseconds."""
        with self._lock:
            series = self._stages.get(stage)
            if series is None:
                series = self._stages[stage] = _Series(self._window, self._alpha)
            series.add(float(ms))

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        """Time the ``with`` block as one measurement of ``stage`` (recorded even if it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(stage, (time.perf_counter() - start) * 1000.0)

    def tick(self, stream: str, now: float | None = None) -> None:
        """Count one frame of ``stream`` (``captured``, ``processed``, ``sent``) for its FPS."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            rate = self._rates.get(stream)
            if rate is None:
                rate = self._rates[stream] = _Rate(self._window)
            rate.tick(now)
            self._cpu.sample(time.perf_counter())  # the caller's ``now`` may be its own clock

    def add_latency(self, ms: float) -> None:
        """One capture-to-send latency, in milliseconds."""
        with self._lock:
            self._latency.add(float(ms))

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name`` (``dropped``, ``resent``, ``errors``, ...)."""
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def counter(self, name: str) -> int:
        with self._lock:
            return self._counters.get(name, 0)

    def frames(self, stream: str) -> int:
        """How many frames ``stream`` has ticked."""
        with self._lock:
            rate = self._rates.get(stream)
            return rate.count if rate is not None else 0

    def fps(self, stream: str) -> float | None:
        """Recent frames per second of ``stream``; ``None`` before two frames."""
        now = time.perf_counter()
        with self._lock:
            rate = self._rates.get(stream)
            return rate.fps(now, self._stale) if rate is not None else None

    def snapshot(self) -> dict:
        """A plain-data copy of everything, safe to keep or serialise::

            {"stages": {name: {"ema_ms", "median_ms", "count", "total_ms"}},  # pipeline order
             "fps": {stream: float | None}, "frames": {stream: int},
             "latency": {"ema_ms", "median_ms", "count", "total_ms"},
             "counters": {name: int}, "uptime_s": float,
             "cpu_cores": float | None}   # the process's CPU time / wall time, last ~5 s

        ``cpu_cores`` counts every thread of the process (the panel's too), as the system's
        monitor would: 1.0 is one core busy.
        """
        now = time.perf_counter()
        with self._lock:
            names = [s for s in STAGES if s in self._stages]
            names += sorted(s for s in self._stages if s not in STAGES)
            return {
                "stages": {name: self._stages[name].summary() for name in names},
                "fps": {k: r.fps(now, self._stale) for k, r in sorted(self._rates.items())},
                "frames": {k: r.count for k, r in sorted(self._rates.items())},
                "latency": self._latency.summary(),
                "counters": dict(sorted(self._counters.items())),
                "uptime_s": now - self._started,
                "cpu_cores": self._cpu.cores(now),
            }

    def format_table(self) -> str:
        """The snapshot as aligned plain text, one stage a line, then rates and counters."""
        snap = self.snapshot()
        lines = [f"{'stage':<14}{'median ms':>10}{'ema ms':>10}{'frames':>8}"]
        for name, s in snap["stages"].items():
            lines.append(
                f"{name:<14}{_ms(s['median_ms']):>10}{_ms(s['ema_ms']):>10}{s['count']:>8}"
            )
        lat = snap["latency"]
        if lat["count"]:
            lines.append(f"{'latency':<14}{_ms(lat['median_ms']):>10}{_ms(lat['ema_ms']):>10}"
                         f"{lat['count']:>8}")
        rates = ", ".join(
            f"{k} {v:.1f} fps" if v is not None else f"{k} - fps" for k, v in snap["fps"].items()
        )
        if rates:
            lines.append(rates)
        if snap["cpu_cores"] is not None:
            lines.append(f"cpu {snap['cpu_cores']:.2f} cores")
        if snap["counters"]:
            lines.append(", ".join(f"{k} {v}" for k, v in snap["counters"].items()))
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
