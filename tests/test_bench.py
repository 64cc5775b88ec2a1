"""``phnet-cam bench``'s machinery with the real pipeline: rows, pacing, the busy load, tables.
Figures are only checked for being there and sane, never for speed."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vcam import bench
from vcam.config import HarmoniseConfig


@pytest.fixture(scope="module")
def frames():
    return bench.render_frames(320, 240, 8)


def test_row_reports_speed_latency_cores_and_memory(frames):
    row = bench.bench_row(320, 240, HarmoniseConfig(mode="colortransfer"), frames, count=4,
                          paced_seconds=0.3)
    idle = row["idle"]
    assert row["loaded"] is None and row["rss_mib"] > 50
    assert idle.fps > 0 and idle.latency_p95 > 0
    assert 0 < idle.cpu_percent < 100 * (os.cpu_count() or 1) + 50
    assert idle.stages["segmentation"] > 0 and idle.stages["harmonise"] > 0
    assert idle.frames_per_network_run is None and idle.network_runs_per_s is None
    assert 0 < idle.paced_fps <= bench.PACED_FPS + 1
    assert 0 < idle.paced_cores < (os.cpu_count() or 1) + 0.5
    text = bench.table([row])
    assert "cores at 30 FPS" in text and "colour transfer" in text and "p95 latency ms" in text
    assert bench.load_table([row]).count("\n") == 1  # the header only: no loaded run


def test_row_under_load_is_measured_beside_busy_processes(frames):
    row = bench.bench_row(320, 240, HarmoniseConfig(mode="off"), frames, count=3,
                          paced_seconds=0.2, load=1)
    loaded = row["loaded"]
    assert loaded is not None and loaded.fps > 0 and loaded.paced_cores > 0
    assert row["harmonisation"] == "off"
    text = bench.load_table([row])
    assert "slowdown" in text and "| 320x240 | off |" in text


def test_busy_load_starts_and_stops():
    with bench.BusyLoad(2) as load:
        procs = list(load._procs)
        assert len(procs) == 2 and all(p.is_alive() for p in procs)
    assert not any(p.is_alive() for p in procs)
    with bench.BusyLoad(0):
        pass
    for n in (-1, bench.MAX_LOAD + 1):
        with pytest.raises(ValueError, match="busy processes"):
            bench.BusyLoad(n)


class _SlowPipeline:
    """Takes 50 ms of a fake clock per frame."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.times: list[float] = []

    def process_one(self, frame, t):
        self.times.append(t)
        self.clock[0] += 0.05


def test_paced_drops_frames_that_come_due_during_a_slow_one():
    now = [0.0]
    pipeline = _SlowPipeline(now)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    counter = [0]
    fps, _ = bench.paced(pipeline, [np.zeros((2, 2, 3), np.uint8)], 1.0, counter,
                         sleep=sleep, timer=lambda: now[0])
    # 50 ms a frame at a 33 ms period: 20 a second processed, each the newest one due when the
    # last finished (one or two periods on), so one frame in three is dropped.
    assert fps == pytest.approx(20.0, abs=1.0)
    steps = np.rint(np.diff(pipeline.times) * bench.PACED_FPS)
    assert set(steps) == {1.0, 2.0} and steps.mean() == pytest.approx(1.5, abs=0.1)


def test_labels_say_what_ran():
    assert bench.label("off", {"method": "off"}) == "off"
    info = {"method": "phnet", "config": "lite", "resolution": 256, "backend": "torch",
            "network_thread": True, "network_rate": 3.0}
    assert bench.label("phnet", info) == "PHNet lite @256 torch, network thread ≤3/s"
    info.update(network_rate=None)
    assert bench.label("phnet", info).endswith("network thread, unbounded")
    info.update(network_thread=False, network_every=10)
    assert bench.label("phnet", info).endswith("every 10th frame")
    info.update(network_every=3)
    assert bench.label("phnet", info).endswith("every 3rd frame")
    assert bench.label("colortransfer", {"method": "colortransfer"}) == "colour transfer"
