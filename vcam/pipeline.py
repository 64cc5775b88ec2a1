"""The camera pipeline: capture -> segmentation -> mask -> background -> composite -> harmonise
-> sinks, threaded for live use and synchronous for files.

Live (``start()``), three threads share two one-frame slots, so no queue can grow and the
latency from capture to send stays bounded:

- capture reads the source and keeps only the newest frame; a frame replaced before processing
  took it counts as dropped. A source that fails (``read()`` raising or returning ``None``) is
  retried with exponential backoff while the sinks show a "camera unavailable" frame.
- processing runs the stages on the newest frame, times each, publishes the newest output and
  hands it to the unpaced sinks (recorder, preview) exactly once.
- the sender feeds the paced sinks (the virtual camera) at the output rate, and sends the last
  frame again when no new one is ready: a conferencing app must never see the camera stall.

Offline (``run_offline()`` / ``process_one()``), every frame is processed in order on the
caller's thread and sent to every sink: deterministic, nothing dropped, for the demo, for
``phnet-cam process`` and for tests.

One bad frame never stops the loop: an exception in a stage is logged once per stage and kind
of error, counted, and the frame gets a fallback (below, in ``process_one``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Protocol

import cv2
import numpy as np

from vcam.compositor import composite_matte
from vcam.config import BackgroundConfig, CameraConfig, HarmoniseConfig, MaskConfig
from vcam.harmonise_stage import harmonises_over
from vcam.stats import PipelineStats

logger = logging.getLogger(__name__)

NO_PERSON_CHOICES = ("background", "frame")

#: Colour of the status frames ("camera unavailable"): dark, so a call shows a calm screen.
_STATUS_BACKGROUND = (24, 24, 28)
_STATUS_TEXT = (220, 220, 220)


class Source(Protocol):
    """What the pipeline reads: ``read()`` -> (RGB uint8 HxWx3, seconds) or ``None``."""

    width: int
    height: int
    fps: float

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


class Sink(Protocol):
    """What the pipeline writes to; ``paced`` sinks are fed at the output rate (see module)."""

    def send(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline needs besides its source and sinks.

    Attributes:
        camera, mask, background, harmonise: the stages' settings (``vcam.config``).
        no_person: what to show when nobody is in the frame: ``background`` (the chosen
            background alone) or ``frame`` (the camera picture as it is).
        output_fps: rate of the paced sinks (virtual camera); ``None``: the source's rate.
        retry_initial_s, retry_max_s: backoff of a failing source: the first wait and the cap
            (the wait doubles after each failed attempt).
        unavailable_after_s: how long a source may fail before the sinks show the "camera
            unavailable" frame (a single missed read from a webcam is common and harmless).
    """

    camera: CameraConfig = field(default_factory=CameraConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    harmonise: HarmoniseConfig = field(default_factory=HarmoniseConfig)
    no_person: str = "background"
    output_fps: float | None = None
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    unavailable_after_s: float = 0.5

    def __post_init__(self) -> None:
        for name, cls in (
            ("camera", CameraConfig),
            ("mask", MaskConfig),
            ("background", BackgroundConfig),
            ("harmonise", HarmoniseConfig),
        ):
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ValueError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
        if self.no_person not in NO_PERSON_CHOICES:
            raise ValueError(
                f"no_person must be one of {', '.join(map(repr, NO_PERSON_CHOICES))}, "
                f"got {self.no_person!r}"
            )
        if self.output_fps is not None and not 0.0 < float(self.output_fps) <= 240.0:
            raise ValueError(f"output_fps must be None or in (0, 240], got {self.output_fps}")
        if not 0.0 < self.retry_initial_s <= self.retry_max_s:
            raise ValueError(
                "retry_initial_s must be in (0, retry_max_s], got "
                f"retry_initial_s={self.retry_initial_s}, retry_max_s={self.retry_max_s}"
            )
        if not self.unavailable_after_s >= 0.0:
            raise ValueError(f"unavailable_after_s must be >= 0, got {self.unavailable_after_s}")


class FrameResult(NamedTuple):
    """One processed frame. The pipeline never writes into these arrays again (some are
    read-only: a cached background, say); copy before drawing on them."""

    frame: np.ndarray
    """The camera picture, RGB uint8 HxWx3."""
    mask: Any
    """The refined person mask, a ``vcam.mask_refiner.Matte`` (``.alpha`` uint8 HxW,
    ``.to_float()`` float32 HxW in [0, 1]); ``None`` if segmentation failed."""
    composite: np.ndarray
    """The person over the background, before harmonisation, RGB uint8 HxWx3."""
    output: np.ndarray
    """What the sinks get, RGB uint8 HxWx3."""
    has_person: bool


def status_frame(width: int, height: int, text: str) -> np.ndarray:
    """A dark RGB uint8 frame with ``text`` centred on it (``camera unavailable``, ...)."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = _STATUS_BACKGROUND
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, round(width / 400))
    # Scale the text to about 60 % of the width, whatever the frame size.
    (base_w, base_h), _ = cv2.getTextSize(text, font, 1.0, thickness)
    scale = max(0.3, 0.6 * width / max(base_w, 1))
    (w, h), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = ((width - w) // 2, (height + h) // 2)
    cv2.putText(frame, text, origin, font, scale, _STATUS_TEXT, thickness, cv2.LINE_AA)
    return frame


def _fit(frame: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
    """``frame`` at a sink's size (a camera that came back at another size, say)."""
    if width is None or height is None or frame.shape[:2] == (height, width):
        return frame
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


class _Slot:
    """One frame, replaced by the newest; ``seq`` tells a reader whether it has changed."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.item: Any = None
        self.seq = 0


class Pipeline:
    """The camera pipeline. It owns what it is given: ``stop()`` closes the source, the
    segmenter, the stages and the sinks. (If the constructor raises, nothing given to it is
    closed: the caller still holds it.)

    Args:
        source: frames to process (``vcam.sources``, ``DemoSource`` or anything with
            ``read()``, ``width``, ``height``, ``fps``, ``close()``).
        sinks: where outputs go (``vcam.sinks``); each one's ``paced`` attribute says whether the
            sender thread feeds it at the output rate (default: not paced).
        config: the stages' settings.
        segmenter: a ``vcam.segmenter.Segmenter`` (or any ``(frame, ms) -> mask`` callable with
            ``close()``); ``None``: the bundled MediaPipe model.

    Usage::

        with Pipeline(source, [VirtualCameraSink(w, h, fps)], config) as p:
            p.start()
            ...                      # p.stats.snapshot(), p.set_background(cfg), ...
        # leaving the block calls stop()
    """

    def __init__(
        self,
        source: Source,
        sinks: Sequence[Sink],
        config: PipelineConfig | None = None,
        segmenter: Any = None,
    ) -> None:
        # Everything stop() touches is set before anything can raise.
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._stopped = False
        self.error: BaseException | None = None  # what stopped a thread, if anything did
        self._started = False
        self._owned_segmenter = False
        self.segmenter: Any = None
        self.refiner: Any = None
        self.background_provider: Any = None
        self.harmonise_stage: Any = None
        self.source = source
        self.sinks = list(sinks)
        self.config = config if config is not None else PipelineConfig()
        if not isinstance(self.config, PipelineConfig):
            raise TypeError(f"config must be a PipelineConfig, got {type(config).__name__}")
        self.stats = PipelineStats()

        self._stage_lock = threading.RLock()  # held while a frame runs; setters wait for it
        self._input = _Slot()
        self._output = _Slot()
        self._last_good: np.ndarray | None = None
        self._logged: set[tuple[str, str]] = set()
        self._source_ok = True
        self._timestamp_offset_ms = 0.0
        self._last_timestamp_ms: float | None = None

        # Imported here: these modules pull in OpenCV filters and PyTorch.
        from vcam.backgrounds import BackgroundProvider
        from vcam.harmonise_stage import HarmoniseStage
        from vcam.mask_refiner import MaskRefiner

        try:
            # The stages that check the user's files first, so a mistyped path fails fast.
            self.refiner = MaskRefiner(self.config.mask)
            self.background_provider = BackgroundProvider(self.config.background)
            self.harmonise_stage = HarmoniseStage(self.config.harmonise)
            self._split_threads()
            if segmenter is None:
                from vcam.segmenter import Segmenter

                size = (getattr(source, "width", None) or self.config.camera.width,
                        getattr(source, "height", None) or self.config.camera.height)
                segmenter = Segmenter(model=self.config.mask.model, frame_size=size,
                                      rvm_downsample_ratio=self.config.mask.rvm_downsample_ratio)
                self._owned_segmenter = True
            self.segmenter = segmenter
        except BaseException:
            # The caller still owns source and sinks (it never got a pipeline to stop); release
            # only what was made here.
            self._close_stages(close_segmenter=self._owned_segmenter)
            raise

    def _split_threads(self) -> None:
        """One core for the network thread, one for the frame path, when there is a network
        thread (``vcam.runtime.split_threads``)."""
        from vcam.runtime import split_threads

        info = getattr(self.harmonise_stage, "info", None)
        network_thread = bool(callable(info) and info().get("network_thread"))
        torch_threads, cv_threads = split_threads(network_thread)
        logger.debug("threads: torch %d, OpenCV %d (network thread: %s)",
                     torch_threads, cv_threads, network_thread)

    # ----------------------------------------------------------------------------- properties

    @property
    def output_fps(self) -> float:
        """The paced sinks' rate: the config's, else the source's, else the camera config's."""
        if self.config.output_fps is not None:
            return float(self.config.output_fps)
        fps = getattr(self.source, "fps", None)
        return float(fps) if fps and fps > 0 else float(self.config.camera.fps)

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()`` while the threads are alive."""
        return self._started and not self._stop.is_set() and any(
            t.is_alive() for t in self._threads
        )

    @property
    def source_available(self) -> bool:
        """False while the source is failing and being retried."""
        return self._source_ok

    def harmonise_info(self) -> dict:
        """What harmonisation actually runs (``HarmoniseStage.info()``), plus
        ``left_as_captured``: the background kind when the camera does not harmonise over it
        (the person's own room, a solid colour; :func:`harmonises_over`)."""
        with self._stage_lock:
            info = dict(self.harmonise_stage.info())
            kind = self.config.background.kind
            if not harmonises_over(kind, self.config.harmonise):
                info["left_as_captured"] = kind
            return info

    def latest_output(self) -> np.ndarray | None:
        """The newest output frame (what the virtual camera shows), or ``None``."""
        with self._output.cond:
            item = self._output.item
        return None if item is None else item[0]

    def add_sink(self, sink: Sink) -> None:
        """Add a sink before ``start()`` or ``run_offline()``; the pipeline owns it from now on
        (``stop()`` closes it). Lets a caller open an output file only once the stages, which
        check the user's settings, have been built."""
        if self._started or self._stopped:
            raise RuntimeError("add sinks before start() or run_offline(), not while running")
        self.sinks.append(sink)

    # --------------------------------------------------------------------------- live setters

    def set_background(self, cfg: BackgroundConfig) -> None:
        """Change the background from the next frame on; the harmoniser starts a new video.

        The new background is loaded on the caller's thread while frames keep flowing.

        Raises:
            vcam.backgrounds.BackgroundError: the file cannot be used (named in the message);
                the previous background stays.
        """
        if not isinstance(cfg, BackgroundConfig):
            raise TypeError(f"cfg must be a BackgroundConfig, got {type(cfg).__name__}")
        self.background_provider.set_config(cfg)  # prepares, then swaps between two frames
        with self._stage_lock:
            self.harmonise_stage.reset()
            self.config = dataclasses.replace(self.config, background=cfg)

    def set_harmonise(self, cfg: HarmoniseConfig) -> None:
        """Change the harmonisation from the next frame on.

        A new model loads on the caller's thread while frames keep flowing with the old one.

        Raises:
            vcam.harmonise_stage.HarmoniseError: the model cannot be loaded; the previous
                harmonisation stays.
        """
        if not isinstance(cfg, HarmoniseConfig):
            raise TypeError(f"cfg must be a HarmoniseConfig, got {type(cfg).__name__}")
        self.harmonise_stage.set_config(cfg)  # builds the new harmoniser, then swaps it in
        with self._stage_lock:
            self.config = dataclasses.replace(self.config, harmonise=cfg)
            self._split_threads()

    def set_mask(self, cfg: MaskConfig) -> None:
        """Change the mask refinement between two frames (its temporal state is kept)."""
        if not isinstance(cfg, MaskConfig):
            raise TypeError(f"cfg must be a MaskConfig, got {type(cfg).__name__}")
        with self._stage_lock:
            self.refiner.set_config(cfg)
            set_model = getattr(self.segmenter, "set_model", None)
            if callable(set_model) and cfg.model != self.config.mask.model:
                set_model(cfg.model)
            set_ratio = getattr(self.segmenter, "set_rvm_downsample_ratio", None)
            if (callable(set_ratio)
                    and cfg.rvm_downsample_ratio != self.config.mask.rvm_downsample_ratio):
                set_ratio(cfg.rvm_downsample_ratio)
            self.config = dataclasses.replace(self.config, mask=cfg)

    # ------------------------------------------------------------------------ frame by frame

    def process_one(self, frame: np.ndarray, t: float) -> FrameResult:
        """Run every stage on one frame, synchronously.

        Args:
            frame: RGB uint8 HxWx3.
            t: the frame's time in seconds (from the source).

        A stage that raises is logged (once per stage and kind of error) and counted in
        ``stats`` as ``errors``, and the frame gets a fallback instead of an exception:
        harmonisation failing -> the plain composite; an earlier stage failing -> the last
        good output of this size, else the camera frame (better a real room for one frame than
        a frozen call).
        """
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
            got = frame.dtype if isinstance(frame, np.ndarray) else type(frame).__name__
            raise TypeError(f"frame must be an RGB uint8 HxWx3 array, got {got}")
        if frame.shape[2] != 3 or 0 in frame.shape:
            raise ValueError(f"frame must be RGB HxWx3 with H, W > 0, got shape {frame.shape}")
        with self._stage_lock:
            result = self._process(frame, t)
        if result.mask is not None:
            self._last_good = result.output
        self.stats.tick("processed")
        return result

    def _process(self, frame: np.ndarray, t: float) -> FrameResult:
        stats = self.stats
        stage = "segmentation"
        try:
            with stats.time(stage):
                raw = self.segmenter(frame, self._timestamp_ms(t))
            stage = "mask"
            with stats.time(stage):
                if getattr(self.segmenter, "returns_matte", False):  # RVM: a matte, as it is
                    matte = self.refiner.from_matte(raw, frame, self.segmenter.foreground)
                else:
                    matte = self.refiner.refine(raw, frame)
            has_person = bool(getattr(self.refiner, "last_has_person", True))
            stage = "background"
            with stats.time(stage):
                background, over = self.background_provider.render(frame, matte)
            if not has_person:
                # Nobody in the picture: no person to composite or harmonise.
                shown = background if self.config.no_person == "background" else frame
                return FrameResult(frame, matte, shown, shown, False)
            stage = "composite"
            with stats.time(stage):
                comp = composite_matte(frame, background, matte)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the camera
            self._report(stage, exc)
            last = self._last_good
            fallback = last if last is not None and last.shape == frame.shape else frame
            return FrameResult(frame, None, fallback, fallback, False)
        try:
            with stats.time("harmonise"):
                if (getattr(self.harmonise_stage, "passes_through", False)
                        or not harmonises_over(over.kind, self.config.harmonise)):
                    # No float mask to make; or the person's own room. ``over``, not
                    # self.config: set_background swaps the background before the config.
                    output = comp
                else:
                    output = self.harmonise_stage(comp, matte.to_float(), captured=frame)
        except Exception as exc:  # noqa: BLE001
            self._report("harmonise", exc)
            output = comp
        return FrameResult(frame, matte, comp, output, True)

    def _timestamp_ms(self, t: float) -> float:
        """Strictly increasing milliseconds for MediaPipe's video mode, even when a file source
        loops back to 0 or a camera restarts its clock."""
        ms = t * 1000.0 + self._timestamp_offset_ms
        if self._last_timestamp_ms is not None and ms <= self._last_timestamp_ms:
            self._timestamp_offset_ms += self._last_timestamp_ms + 1.0 - ms
            ms = self._last_timestamp_ms + 1.0
        self._last_timestamp_ms = ms
        return ms

    def _report(self, stage: str, exc: BaseException) -> None:
        self.stats.count("errors")
        key = (stage, type(exc).__name__)
        if key in self._logged:
            logger.debug("%s failed again: %s", stage, exc)
            return
        self._logged.add(key)
        logger.warning(
            "%s failed (%s: %s); the frame is passed on without it. Further %s errors in %s "
            "are counted, not logged.",
            stage, type(exc).__name__, exc, type(exc).__name__, stage, exc_info=exc,
        )

    def run_offline(
        self,
        n_frames: int | None = None,
        on_frame: Callable[[int, FrameResult], None] | None = None,
    ) -> int:
        """Process frames from the source in order until it ends (``read()`` -> ``None``) or
        ``n_frames`` are done, sending each output to every sink. Returns the frame count.

        ``on_frame(index, result)`` is called after each frame (the demo keeps one for its
        picture). Must not be mixed with ``start()``.
        """
        if self._started:
            raise RuntimeError("run_offline() cannot run while the threaded pipeline is started")
        if self._stopped:
            raise RuntimeError("the pipeline is stopped")
        count = 0
        while n_frames is None or count < n_frames:
            with self.stats.time("capture"):
                item = self.source.read()
            if item is None:
                break
            frame, t = item
            self.stats.tick("captured")
            captured = time.perf_counter()
            result = self.process_one(frame, t)
            self._send_all(result, paced_too=True)
            self.stats.add_latency((time.perf_counter() - captured) * 1000.0)
            if on_frame is not None:
                on_frame(count, result)
            count += 1
        return count

    # ---------------------------------------------------------------------------- threading

    def start(self) -> None:
        """Start the capture, processing and (if a sink is paced) sender threads."""
        if self._stopped:
            raise RuntimeError("the pipeline is stopped; make a new one")
        if self._started:
            raise RuntimeError("the pipeline is already started")
        self._started = True
        self.stats.reset()
        targets = [("capture", self._capture_loop), ("processing", self._processing_loop)]
        if any(getattr(s, "paced", False) for s in self.sinks):
            targets.append(("sender", self._sender_loop))
        for name, target in targets:
            thread = threading.Thread(target=self._guard(name, target), name=f"vcam-{name}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        logger.info("pipeline started: %s, output %.3g fps",
                    ", ".join(name for name, _ in targets), self.output_fps)

    def _guard(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                # The loops catch per-frame errors themselves; reaching here is a bug. Stop the
                # whole pipeline rather than leave a camera that silently freezes.
                logger.exception("the %s thread stopped on an unexpected error", name)
                if self.error is None:
                    self.error = exc
                self._stop.set()
                for slot in (self._input, self._output):
                    with slot.cond:
                        slot.cond.notify_all()

        return run

    def _capture_loop(self) -> None:
        cfg = self.config
        delay = cfg.retry_initial_s
        failing_since: float | None = None
        while not self._stop.is_set():
            error: BaseException | None = None
            start = time.perf_counter()
            try:
                item = self.source.read()
            except Exception as exc:  # noqa: BLE001 - a camera unplugged mid-call
                item, error = None, exc
            now = time.perf_counter()
            if item is not None:
                self.stats.record("capture", (now - start) * 1000.0)
                self.stats.tick("captured", now)
                if failing_since is not None:
                    logger.warning("camera is back after %.1f s", now - failing_since)
                    failing_since, delay = None, cfg.retry_initial_s
                    self._source_ok = True
                    self._restart_video()
                frame, t = item
                with self._input.cond:
                    if self._input.item is not None:
                        self.stats.count("dropped")  # the processing thread never took it
                    self._input.item = (frame, t, now)
                    self._input.seq += 1
                    self._input.cond.notify_all()
                continue

            # The source failed: back off and retry, showing a status frame once it persists.
            if failing_since is None:
                failing_since = now
                self.stats.count("source_failures")
                if error is not None:
                    logger.warning("camera read failed (%s: %s); retrying",
                                   type(error).__name__, error)
                else:
                    logger.warning("camera returned no frame; retrying")
            if self._source_ok and now - failing_since >= cfg.unavailable_after_s:
                self._source_ok = False
                self._publish_status("camera unavailable")
            if self._stop.wait(delay):
                break
            if delay > cfg.retry_initial_s:
                # Not after the first miss (a webcam skips a frame now and then), but from the
                # second one on: an unplugged camera needs opening again to come back.
                _reopen(self.source)
            delay = min(delay * 2.0, cfg.retry_max_s)

    def _restart_video(self) -> None:
        """After a gap the picture is a new scene: forget temporal state."""
        with self._stage_lock:
            for stage in (self.refiner, self.harmonise_stage):
                reset = getattr(stage, "reset", None)
                if callable(reset):
                    reset()
            self._last_good = None

    def _publish_status(self, text: str) -> None:
        width = getattr(self.source, "width", None) or self.config.camera.width
        height = getattr(self.source, "height", None) or self.config.camera.height
        frame = status_frame(int(width), int(height), text)
        self._publish(frame, None, None)
        for sink in self.sinks:
            if not getattr(sink, "paced", False):
                self._send(sink, frame, None)

    def _processing_loop(self) -> None:
        seen = 0
        while not self._stop.is_set():
            with self._input.cond:
                while self._input.seq == seen and not self._stop.is_set():
                    self._input.cond.wait(0.1)
                if self._stop.is_set():
                    break
                frame, t, captured = self._input.item
                self._input.item = None  # taken: a replacement is not a drop
                seen = self._input.seq
            result = self.process_one(frame, t)
            self._publish(result.output, captured, result.frame)
            self._send_all(result, paced_too=False)
            if not self._has_paced():
                self.stats.add_latency((time.perf_counter() - captured) * 1000.0)

    def _publish(self, output: np.ndarray, captured: float | None,
                 frame: np.ndarray | None) -> None:
        with self._output.cond:
            self._output.item = (output, captured, frame)
            self._output.seq += 1
            self._output.cond.notify_all()

    def _sender_loop(self) -> None:
        period = 1.0 / self.output_fps
        paced = [s for s in self.sinks if getattr(s, "paced", False)]
        last_seq = 0
        frame: np.ndarray | None = None
        next_due = time.perf_counter()
        while not self._stop.is_set():
            with self._output.cond:
                seq, item = self._output.seq, self._output.item
            captured = None
            if item is not None and seq != last_seq:
                frame, captured, _ = item
                last_seq = seq
            elif frame is not None:
                self.stats.count("resent")
            if frame is None:
                width = getattr(paced[0], "width", None) or self.config.camera.width
                height = getattr(paced[0], "height", None) or self.config.camera.height
                frame = status_frame(int(width), int(height), "starting")
            with self.stats.time("send"):
                for sink in paced:
                    self._send(sink, frame, None)
            now = time.perf_counter()
            self.stats.tick("sent", now)
            if captured is not None:
                self.stats.add_latency((now - captured) * 1000.0)
            # A fixed schedule, not "sleep one period": the rate does not drift with the send
            # time; after a stall (a suspended laptop) the schedule restarts instead of bursting.
            next_due += period
            if next_due < now - period:
                next_due = now + period
            self._stop.wait(max(0.0, next_due - now))

    def _has_paced(self) -> bool:
        return any(getattr(s, "paced", False) for s in self.sinks)

    def _send_all(self, result: FrameResult, paced_too: bool) -> None:
        sinks = [s for s in self.sinks if paced_too or not getattr(s, "paced", False)]
        if not sinks:
            return
        with self.stats.time("send"):
            for sink in sinks:
                self._send(sink, result.output, result.frame)

    def _send(self, sink: Sink, frame: np.ndarray, source_frame: np.ndarray | None) -> None:
        try:
            out = _fit(frame, getattr(sink, "width", None), getattr(sink, "height", None))
            if source_frame is not None and getattr(sink, "keep_input", False):
                sink.send(out, source_frame)  # type: ignore[call-arg]  # PreviewSink
            else:
                sink.send(out)
        except Exception as exc:  # noqa: BLE001 - a sink hiccup must not stop the others
            self._report(f"send to {type(sink).__name__}", exc)

    # ------------------------------------------------------------------------------ closing

    def stop(self) -> None:
        """Stop the threads and close the source, segmenter, stages and sinks. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        for slot in (self._input, self._output):
            with slot.cond:
                slot.cond.notify_all()
        # The capture thread may sit in source.read() for a while (a camera timing out): close
        # the source only after it returned, or give up waiting and close it anyway.
        for thread in self._threads:
            thread.join(timeout=5.0)
            if thread.is_alive():
                logger.warning("thread %s did not stop within 5 s", thread.name)
        _close_quietly(self.source)
        self._close_stages(close_segmenter=True)
        for sink in self.sinks:
            _close_quietly(sink)
        if self._started:
            # One line: the callers print or show the table themselves (run prints it once).
            logger.info("pipeline stopped after %d frames", self.stats.frames("processed"))

    def _close_stages(self, close_segmenter: bool) -> None:
        stages = [self.refiner, self.background_provider, self.harmonise_stage]
        if close_segmenter:
            stages.insert(0, self.segmenter)
        for stage in stages:
            _close_quietly(stage)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _reopen(source: Any) -> None:
    """Open a failing source again: its ``reopen()``, else ``close()`` then ``open()``
    (``CameraSource``); sources with neither (files, the demo) are just read again."""
    try:
        reopen = getattr(source, "reopen", None)
        if callable(reopen):
            reopen()
            return
        open_ = getattr(source, "open", None)
        if callable(open_):
            source.close()
            open_()
    except Exception as exc:  # noqa: BLE001 - still gone: the next attempt tries again
        logger.debug("reopening the source failed: %s", exc)


def _close_quietly(obj: Any) -> None:
    close = getattr(obj, "close", None)
    if not callable(close):
        return
    try:
        close()
    except Exception:  # noqa: BLE001 - closing the rest matters more
        logger.exception("closing %s failed", type(obj).__name__)
