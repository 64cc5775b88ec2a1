"""The pipeline, threaded and offline, with real OpenCV and MediaPipe; the virtual camera is
pyvirtualcam's ``Camera`` with a stand-in backend (test_sinks.FakeBackend)."""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from standins import TEST_BACKEND, FakeBackend

from vcam.backgrounds import BackgroundError
from vcam.config import BackgroundConfig, CameraConfig, HarmoniseConfig, MaskConfig
from vcam.demo_source import DemoSource, DemoSourceConfig
from vcam.pipeline import Pipeline, PipelineConfig, status_frame
from vcam.segmenter import Segmenter
from vcam.sinks import PreviewSink, VirtualCameraSink
from vcam.sources import open_source
from vcam.stats import PipelineStats

W, H, FPS = 320, 240, 30.0
GREEN = (10, 200, 30)
SCENE = BackgroundConfig(kind="image")  # the first bundled picture: a scene to harmonise over


pytestmark = pytest.mark.usefixtures("virtual_backends")


@pytest.fixture(scope="module")
def portrait_video(tmp_path_factory) -> Path:
    """80 frames, 320x240 at 30 fps, of the bundled astronaut panned and zoomed (a person
    MediaPipe finds), written with cv2.VideoWriter."""
    path = tmp_path_factory.mktemp("video") / "portrait.mp4"
    source = DemoSource(DemoSourceConfig(width=W, height=H, fps=FPS, frames=80, realtime=False,
                                         pan_amount=0.08, pan_periods=(1.5, 2.0)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    for frame, _ in source:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def segmenter_factory():
    """Real MediaPipe segmenters; the pipeline closes the ones it is given."""
    made: list[Segmenter] = []

    def make() -> Segmenter:
        made.append(Segmenter())
        return made[-1]

    yield make
    for s in made:
        s.close()


def _config(**kw) -> PipelineConfig:
    kw.setdefault("harmonise", HarmoniseConfig(mode="colortransfer"))
    kw.setdefault("background", BackgroundConfig(kind="color", color=GREEN))
    return PipelineConfig(**kw)


class RecordingSink:
    """An unpaced sink that keeps every frame (a recorder without the file)."""

    paced = False

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.closed = 0
        self.lock = threading.Lock()

    def send(self, frame: np.ndarray) -> None:
        with self.lock:
            self.frames.append(frame)

    def close(self) -> None:
        self.closed += 1


class SlowSegmenter:
    """Wraps a segmenter: sleeps before each frame (a slow stage) and can raise on chosen
    calls (a bad frame)."""

    def __init__(self, inner, delay: float = 0.0, fail_on: tuple[int, ...] = (),
                 error: type[Exception] = RuntimeError) -> None:
        self.inner, self.delay, self.fail_on, self.error = inner, delay, fail_on, error
        self.calls = 0
        self.closed = 0

    def __call__(self, frame, ts_ms):
        self.calls += 1
        if self.calls in self.fail_on:
            raise self.error(f"bad frame {self.calls}")
        if self.delay:
            time.sleep(self.delay)
        return self.inner(frame, ts_ms)

    def close(self) -> None:
        self.closed += 1
        self.inner.close()


class ConstantSegmenter:
    """A mask that does not depend on the picture: for the logic tests of the no-person path."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.closed = 0

    def __call__(self, frame, ts_ms):
        return np.full(frame.shape[:2], self.value, np.float32)

    def close(self) -> None:
        self.closed += 1


class FlakySource:
    """A camera that delivers ``good`` frames, then fails for ``outage_s`` seconds (``read()``
    returning None, or raising), then delivers again; paced like a camera."""

    def __init__(self, good: int, outage_s: float, raises: bool = False) -> None:
        self.demo = DemoSource(DemoSourceConfig(width=160, height=120, fps=FPS, realtime=True))
        self.width, self.height, self.fps = 160, 120, FPS
        self.good, self.outage_s, self.raises = good, outage_s, raises
        self.reads = 0
        self.failed_at: float | None = None
        self.failures = 0
        self.reopened = 0
        self.closed = 0

    def read(self):
        self.reads += 1
        if self.reads > self.good:
            now = time.perf_counter()
            if self.failed_at is None:
                self.failed_at = now
            if now - self.failed_at < self.outage_s:
                self.failures += 1
                time.sleep(0.005)
                if self.raises:
                    raise OSError("camera unplugged")
                return None
        return self.demo.read()

    def reopen(self) -> None:
        self.reopened += 1

    def close(self) -> None:
        self.closed += 1
        self.demo.close()


def _rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


# ---------------------------------------------------------------------------- threaded, live


def test_live_pipeline_feeds_the_virtual_camera_at_the_camera_rate(portrait_video,
                                                                    segmenter_factory):
    source = open_source(str(portrait_video), CameraConfig())
    assert (source.width, source.height) == (W, H)
    sink = VirtualCameraSink(source.width, source.height, source.fps, backend=TEST_BACKEND)
    preview = PreviewSink(keep_input=True)
    pipeline = Pipeline(source, [sink, preview], _config(), segmenter=segmenter_factory())
    with pipeline:
        pipeline.start()
        assert pipeline.running
        time.sleep(1.6)
        snap = pipeline.stats.snapshot()
        latest = preview.latest()
        camera = preview.latest_input()
    assert not pipeline.running
    assert preview.latest() is None  # closed with the pipeline
    backend = FakeBackend.instances[0]
    assert backend.closed == 1 and not backend.bad
    assert backend.count == sink.frames_sent
    assert 0.8 * 1.6 * FPS <= backend.count <= 1.2 * 1.6 * FPS
    assert _rate(backend.times[5:]) == pytest.approx(FPS, rel=0.1)
    # Every stage was timed, and the picture is the composite: the person stayed, the room
    # became green.
    for stage in ("capture", "segmentation", "mask", "background", "composite", "harmonise",
                  "send"):
        assert snap["stages"][stage]["count"] > 0, stage
    assert snap["frames"]["processed"] >= 10
    assert snap["latency"]["count"] > 0 and snap["latency"]["median_ms"] < 1000
    assert latest is not None and latest.shape == (H, W, 3)
    green = np.all(np.abs(latest.astype(int) - GREEN) <= 3, axis=2).mean()
    assert 0.2 < green < 0.9, green  # background replaced, person kept
    assert camera is not None and camera.shape == (H, W, 3)
    assert "harmonise" in pipeline.stats.format_table()


def test_slow_processing_drops_input_and_resends_output(portrait_video, segmenter_factory):
    source = open_source(str(portrait_video), CameraConfig())
    sink = VirtualCameraSink(source.width, source.height, source.fps, backend=TEST_BACKEND)
    segmenter = SlowSegmenter(segmenter_factory(), delay=0.15)
    pipeline = Pipeline(source, [sink], _config(harmonise=HarmoniseConfig(mode="off")),
                        segmenter=segmenter)
    with pipeline:
        pipeline.start()
        time.sleep(1.5)
        snap = pipeline.stats.snapshot()
    backend = FakeBackend.instances[0]
    # The camera never stalls: ~30 fps out although only ~6 frames a second are processed.
    assert _rate(backend.times[5:]) == pytest.approx(FPS, rel=0.15)
    assert snap["frames"]["processed"] <= 12
    assert snap["counters"]["resent"] >= backend.count // 2
    assert snap["counters"]["dropped"] >= 15  # the capture thread kept only the newest
    # Latency stays bounded by about one processing time (no queue).
    assert snap["latency"]["median_ms"] < 600


def test_camera_outage_shows_unavailable_then_recovers(segmenter_factory):
    for raises in (False, True):
        FakeBackend.instances.clear()
        source = FlakySource(good=10, outage_s=0.5, raises=raises)
        sink = VirtualCameraSink(160, 120, FPS, backend=TEST_BACKEND)
        recorder = RecordingSink()
        config = _config(harmonise=HarmoniseConfig(mode="off"), retry_initial_s=0.02,
                         retry_max_s=0.2, unavailable_after_s=0.1)
        pipeline = Pipeline(source, [sink, recorder], config, segmenter=segmenter_factory())
        with pipeline:
            pipeline.start()
            deadline = time.perf_counter() + 6.0
            while time.perf_counter() < deadline and (
                source.failed_at is None or pipeline.stats.frames("processed") < 20
            ):
                time.sleep(0.05)
            assert pipeline.running
            assert pipeline.source_available
        unavailable = status_frame(160, 120, "camera unavailable")
        kinds = ["unavailable" if np.array_equal(f, unavailable) else "frame"
                 for f in recorder.frames]
        assert "unavailable" in kinds, raises
        first = kinds.index("unavailable")
        assert "frame" in kinds[:first] and "frame" in kinds[first + 1:]  # before and after
        backend_kinds = [np.array_equal(f, unavailable) for f in FakeBackend.instances[0].frames]
        assert sum(backend_kinds) >= 3  # the virtual camera showed it, repeatedly
        assert not backend_kinds[-1]  # and normal pictures again at the end
        assert source.reopened >= 1 and source.closed == 1
        assert pipeline.stats.counter("source_failures") == 1


def test_status_frame_draws_text():
    frame = status_frame(320, 240, "camera unavailable")
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
    assert frame.max() > 150 and np.median(frame) < 40  # light text on a dark frame


# ----------------------------------------------------------------------- offline, robustness


def test_a_stage_that_raises_on_one_frame_does_not_stop_the_loop(segmenter_factory, caplog):
    source = DemoSource(DemoSourceConfig(width=160, height=120, frames=10, realtime=False))
    recorder = RecordingSink()
    segmenter = SlowSegmenter(segmenter_factory(), fail_on=(3, 6))
    with Pipeline(source, [recorder], _config(), segmenter=segmenter) as pipeline:
        with caplog.at_level(logging.WARNING, logger="vcam.pipeline"):
            assert pipeline.run_offline() == 10
    assert len(recorder.frames) == 10
    assert pipeline.stats.counter("errors") == 2
    warnings = [r for r in caplog.records if "segmentation failed" in r.getMessage()]
    assert len(warnings) == 1  # once per kind of error
    # The failed frames got the previous good output, not the raw room.
    assert np.array_equal(recorder.frames[2], recorder.frames[1])
    assert segmenter.closed == 1


def test_harmoniser_failure_passes_the_composite(segmenter_factory):
    source = DemoSource(DemoSourceConfig(width=160, height=120, frames=3, realtime=False))
    config = _config(background=SCENE)
    with Pipeline(source, [], config, segmenter=segmenter_factory()) as pipeline:
        def broken(composite, mask):
            raise ValueError("broken harmoniser")

        pipeline.harmonise_stage = broken
        results = []
        pipeline.run_offline(on_frame=lambda i, r: results.append(r))
    assert len(results) == 3
    assert all(np.array_equal(r.output, r.composite) for r in results)
    assert pipeline.stats.counter("errors") == 3


@pytest.mark.parametrize("no_person", ["background", "frame"])
def test_no_person_shows_background_or_frame(no_person):
    frame = np.full((120, 160, 3), 90, np.uint8)
    config = _config(no_person=no_person)
    with Pipeline(DemoSource(DemoSourceConfig(160, 120, frames=0)), [], config,
                  segmenter=ConstantSegmenter(0.0)) as pipeline:
        result = pipeline.process_one(frame, 0.0)
    assert not result.has_person
    expected = np.full_like(frame, GREEN) if no_person == "background" else frame
    assert np.array_equal(result.output, expected)


def test_missing_background_file_keeps_the_previous_one(tmp_path):
    frame = np.full((120, 160, 3), 90, np.uint8)
    with Pipeline(DemoSource(DemoSourceConfig(160, 120, frames=0)), [], _config(),
                  segmenter=ConstantSegmenter(0.0)) as pipeline:
        resets = []
        stage = pipeline.harmonise_stage
        original_reset = stage.reset
        stage.reset = lambda: (resets.append(1), original_reset())
        missing = tmp_path / "missing.jpg"
        with pytest.raises(BackgroundError, match="missing.jpg"):
            pipeline.set_background(BackgroundConfig(kind="image", path=str(missing)))
        assert pipeline.config.background.color == GREEN
        assert np.array_equal(pipeline.process_one(frame, 0.0).output, np.full_like(frame, GREEN))
        assert resets == []
        # A good change takes effect at the next frame and restarts the harmoniser's video.
        pipeline.set_background(BackgroundConfig(kind="color", color=(200, 0, 0)))
        assert resets == [1]
        assert (pipeline.process_one(frame, 0.04).output == (200, 0, 0)).all()
        pipeline.set_mask(MaskConfig(smoothing=0.0))
        pipeline.set_harmonise(HarmoniseConfig(mode="off"))
        assert pipeline.harmonise_info()["method"] == "off"
        assert pipeline.config.mask.smoothing == 0.0


def test_stop_releases_everything_once():
    source = FlakySource(good=1000, outage_s=0)
    segmenter = ConstantSegmenter(1.0)
    sink = VirtualCameraSink(160, 120, FPS, backend=TEST_BACKEND)
    recorder = RecordingSink()
    pipeline = Pipeline(source, [sink, recorder], _config(), segmenter=segmenter)
    pipeline.start()
    time.sleep(0.3)
    with pytest.raises(RuntimeError, match="already started"):
        pipeline.start()
    pipeline.stop()
    pipeline.stop()
    assert (source.closed, segmenter.closed, recorder.closed) == (1, 1, 1)
    assert FakeBackend.instances[0].closed == 1
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("vcam-"))
    with pytest.raises(RuntimeError, match="stopped"):
        pipeline.start()


def test_pipeline_config_refuses_bad_values():
    with pytest.raises(ValueError, match="no_person"):
        PipelineConfig(no_person="nothing")
    with pytest.raises(ValueError, match="output_fps"):
        PipelineConfig(output_fps=0)
    with pytest.raises(ValueError, match="retry_initial_s"):
        PipelineConfig(retry_initial_s=10, retry_max_s=5)


def test_offline_runs_are_deterministic(segmenter_factory):
    outputs = []
    for _ in range(2):
        source = DemoSource(DemoSourceConfig(width=160, height=120, frames=6, realtime=False))
        recorder = RecordingSink()
        with Pipeline(source, [recorder], _config(), segmenter=segmenter_factory()) as p:
            assert p.run_offline() == 6
        outputs.append(recorder.frames)
    assert all(np.array_equal(a, b) for a, b in zip(*outputs))


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:
        return None


def test_two_thousand_frames_do_not_grow_memory(segmenter_factory):
    frames = [f for f, _ in DemoSource(DemoSourceConfig(width=160, height=120, frames=30,
                                                        realtime=False, pan_amount=0.1,
                                                        pan_periods=(0.5, 0.7)))]
    with Pipeline(DemoSource(DemoSourceConfig(160, 120, frames=0)), [RecordingSink()],
                  _config(harmonise=HarmoniseConfig(mode="off")),
                  segmenter=segmenter_factory()) as pipeline:
        pipeline.sinks = []  # nothing must keep the frames but the pipeline itself

        def run(start: int, stop: int) -> None:
            for i in range(start, stop):
                pipeline.process_one(frames[i % len(frames)], i / FPS)

        run(0, 200)  # warm up: caches, MediaPipe's buffers, the stats windows fill
        gc.collect()
        rss_before = _rss_bytes()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        run(200, 2000)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        rss_after = _rss_bytes()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 1_000_000, growth
    if rss_before is not None and sys.platform.startswith("linux"):
        assert rss_after - rss_before < 8_000_000, (rss_before, rss_after)
    assert pipeline.stats.frames("processed") == 2000


# -------------------------------------------------------------------------------------- stats


def test_stats_summaries_and_table():
    stats = PipelineStats(window=10, ema_alpha=0.5)
    for ms in (10.0, 20.0, 30.0):
        stats.record("segmentation", ms)
    stats.record("custom", 1.0)
    with stats.time("harmonise"):
        time.sleep(0.01)
    t0 = time.perf_counter()
    for i in range(11):
        stats.tick("sent", t0 + i / 30)
    stats.add_latency(40.0)
    stats.count("dropped", 3)
    snap = stats.snapshot()
    assert snap["stages"]["segmentation"] == {"ema_ms": 22.5, "median_ms": 20.0, "count": 3,
                                              "total_ms": 60.0}
    assert list(snap["stages"]) == ["segmentation", "harmonise", "custom"]
    assert snap["stages"]["harmonise"]["median_ms"] >= 9.0
    assert snap["fps"]["sent"] == pytest.approx(30.0)
    assert snap["counters"] == {"dropped": 3}
    assert snap["latency"]["median_ms"] == 40.0
    table = stats.format_table()
    assert "segmentation" in table and "30.0 fps" in table and "dropped 3" in table
    stats.reset()
    assert stats.snapshot()["stages"] == {}


def test_stats_report_the_cores_the_process_uses():
    stats = PipelineStats()
    assert stats.snapshot()["cpu_cores"] is None  # nothing sampled yet
    stats.tick("processed")
    end = time.perf_counter() + 0.4
    while time.perf_counter() < end:  # one thread busy
        sum(range(1000))
    stats.tick("processed")
    cores = stats.snapshot()["cpu_cores"]
    # One busy thread is one core at most (plus whatever else the process runs), less when
    # the machine is shared; an idle process would be near 0.
    assert 0.2 < cores < (os.cpu_count() or 1) + 0.5
    assert f"cpu {cores:.2f}"[:6] in stats.format_table()
    stats.reset()
    assert stats.snapshot()["cpu_cores"] is None


def test_stats_is_thread_safe():
    stats = PipelineStats(window=50)

    def work():
        for i in range(2000):
            stats.record("mask", float(i % 7))
            stats.tick("processed")
            stats.count("resent")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(200):
        stats.snapshot()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    snap = stats.snapshot()
    assert snap["stages"]["mask"]["count"] == 8000
    assert snap["counters"]["resent"] == 8000
    assert snap["frames"]["processed"] == 8000


@pytest.mark.parametrize("kind", ["blur", "none"])
def test_a_person_over_their_own_room_comes_out_as_captured(segmenter_factory, kind):
    source = DemoSource(DemoSourceConfig(width=160, height=120, frames=4, realtime=False))
    config = _config(background=BackgroundConfig(kind=kind))  # colour transfer would change them
    with Pipeline(source, [], config, segmenter=segmenter_factory()) as pipeline:
        results = []
        pipeline.run_offline(on_frame=lambda i, r: results.append(r))
    assert results and all(r.has_person for r in results)
    assert all(np.array_equal(r.output, r.composite) for r in results)


@pytest.mark.parametrize("mode", ["light", "colortransfer"])
def test_a_person_over_a_solid_colour_comes_out_as_captured(segmenter_factory, mode):
    # Over the default colour the light transfer greyed the face (0.77 EV darker); a flat colour
    # has no light to match. own_room does not change that.
    source = DemoSource(DemoSourceConfig(width=160, height=120, frames=4, realtime=False))
    config = _config(background=BackgroundConfig(kind="color", color=(200, 200, 200)),
                     harmonise=HarmoniseConfig(mode=mode, own_room=True))
    with Pipeline(source, [], config, segmenter=segmenter_factory()) as pipeline:
        results = []
        pipeline.run_offline(on_frame=lambda i, r: results.append(r))
    assert results and all(r.has_person for r in results)
    assert all(np.array_equal(r.output, r.composite) for r in results)


def test_own_room_setting_harmonises_over_blur_on_request(segmenter_factory):
    source = DemoSource(DemoSourceConfig(width=160, height=120, frames=3, realtime=False))
    config = _config(background=BackgroundConfig(kind="blur"),
                     harmonise=HarmoniseConfig(mode="colortransfer", own_room=True))
    with Pipeline(source, [], config, segmenter=segmenter_factory()) as pipeline:
        results = []
        pipeline.run_offline(on_frame=lambda i, r: results.append(r))
    assert any(not np.array_equal(r.output, r.composite) for r in results)


def test_the_harmoniser_gets_the_camera_frame_as_its_light_reference(segmenter_factory):
    from vcam.harmonise_stage import HarmoniseStage

    seen = []

    class Recorder:
        def __call__(self, composite, mask, captured=None):
            seen.append((composite, captured))
            return composite

    source = DemoSource(DemoSourceConfig(width=160, height=120, frames=3, realtime=False))
    config = _config(background=SCENE)
    with Pipeline(source, [], config, segmenter=segmenter_factory()) as pipeline:
        pipeline.harmonise_stage = HarmoniseStage(harmoniser=Recorder())
        results = []
        pipeline.run_offline(on_frame=lambda i, r: results.append(r))
    assert len(seen) == 3
    for (composite, captured), r in zip(seen, results):
        assert captured is not None and np.array_equal(captured, r.frame)
        assert not np.array_equal(captured, composite)


def test_a_switch_to_blur_never_harmonises_the_person_over_their_own_room(segmenter_factory,
                                                                         tmp_path):
    """set_background swaps the background before it records the new kind: a frame made in
    between is over the blurred room and must come out as captured, not with the old scene's
    light on the person."""
    source = DemoSource(DemoSourceConfig(width=160, height=120, frames=4, realtime=False))
    frames = [f for f, _ in source]
    dark = tmp_path / "dark.png"  # a dark scene: the light transfer darkens them a stop
    cv2.imwrite(str(dark), np.random.default_rng(0).integers(0, 12, (120, 160, 3), np.uint8))
    config = _config(background=BackgroundConfig(kind="image", path=str(dark)),
                     harmonise=HarmoniseConfig())
    with Pipeline(source, [], config, segmenter=segmenter_factory()) as pipeline:
        for i, frame in enumerate(frames[:3]):
            before = pipeline.process_one(frame, i / 30)
        assert not np.array_equal(before.output, before.composite)
        with pipeline._stage_lock:  # a frame in flight: set_background waits for it
            switch = threading.Thread(target=pipeline.set_background,
                                      args=(BackgroundConfig(kind="blur"),))
            switch.start()
            deadline = time.monotonic() + 10
            while pipeline.background_provider.config.kind != "blur":
                assert time.monotonic() < deadline
                time.sleep(0.001)
            result = pipeline.process_one(frames[3], 3 / 30)
        switch.join(10)
    assert result.has_person
    np.testing.assert_array_equal(result.output, result.composite)
