"""Runs the camera pipeline for the panel, off the GUI thread.

The GUI never waits for the pipeline. It states what it wants (``set_section``,
``set_effect``, ``set_virtual_camera``) and returns at once; one worker thread makes the
running pipeline match, calling the pipeline's live setters or, when the camera itself
changes, building a new pipeline. Wishes that arrive while the worker is busy (a slider
dragged across its range, a resolution spun through ten values) are merged: the worker only
ever applies the newest one, so a slow model load never queues up work behind it.

What the GUI reads (preview frames, stats, the virtual camera's state) comes from thread-safe
objects (``PreviewSink``, ``PipelineStats``) without taking the pipeline's stage lock. What
the worker has to tell the GUI goes through Qt signals, which Qt delivers on the GUI thread.

``shutdown()`` is explicit (no ``__del__``): it stops the worker, then the pipeline, which
closes the camera, the stages and the virtual camera device.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from vcam.config import BackgroundConfig, CameraConfig, HarmoniseConfig, MaskConfig
from vcam.settings import Settings

from vcam.panel.virtual_output import VirtualCameraOutput, VirtualCameraState

logger = logging.getLogger(__name__)

SECTIONS = ("camera", "mask", "background", "harmonise")
DEMO_DEVICE = "demo"

#: With the effect toggled off the output is the camera picture as it is.
BYPASS_BACKGROUND = BackgroundConfig(kind="none")


@dataclass(frozen=True)
class SourceInfo:
    """What the running pipeline reads: the device as configured, what it delivers, and the
    device asked for when this one runs in its place (``demo`` for a camera that would not
    open), else ``None``."""

    device: str
    width: int
    height: int
    fps: float
    instead_of: str | None = None


class PipelineController(QObject):
    """The panel's handle on the pipeline.

    Args:
        settings: the settings to start with.
        vcam_device, vcam_backend: passed to ``VirtualCameraSink`` (``None``: pyvirtualcam
            picks; tests name a stand-in backend registered with pyvirtualcam).

    Signals (delivered on the GUI thread):
        started(SourceInfo): a new pipeline runs (after a start or a camera change).
        adjusted(section, config, message): the worker could not use a setting and uses
            ``config`` instead (a background file that cannot be read, a model that does not
            load); the GUI shows ``message`` and puts its controls back.
        fell_back(message): the camera would not open and the demo source runs in its place.
            The camera stays the user's choice (a fallback is not a choice): it is tried again
            when the user chooses it again or the camera settings change.
        message(text): something the user should read that concerns no single control.
        harmonise_info_changed(dict): what harmonisation runs now (``harmonise_info()``).
        virtual_camera_changed(VirtualCameraState): connected, disconnected or failed.
    """

    started = Signal(object)
    adjusted = Signal(str, object, str)
    fell_back = Signal(str)
    message = Signal(str)
    harmonise_info_changed = Signal(dict)
    virtual_camera_changed = Signal(object)

    def __init__(
        self,
        settings: Settings,
        *,
        vcam_device: str | None = None,
        vcam_backend: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._want: dict[str, Any] = {s: getattr(settings, s) for s in SECTIONS}
        self._effect = True
        self._vcam_want = False
        self._restart = False
        self._dirty = True
        self._working = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._vcam_device = vcam_device
        self._vcam_backend = vcam_backend
        # Owned by the worker; the GUI only reads them (an attribute read is atomic).
        self._pipeline: Any = None
        self._preview: Any = None
        self._output: VirtualCameraOutput | None = None
        self._camera: CameraConfig | None = None  # the wish the running pipeline answers
        self._fallback = False  # ... with the demo source in its place
        self._info: dict = {}
        self._vcam_error = VirtualCameraState()

    # ------------------------------------------------------------------ GUI thread: wishes

    def start(self) -> None:
        """Start the worker; it builds the first pipeline at once."""
        if self._thread is not None:
            raise RuntimeError("the controller is already started")
        self._thread = threading.Thread(target=self._run, name="vcam-panel-worker", daemon=True)
        self._thread.start()

    def set_section(self, section: str, config: Any) -> None:
        """Use ``config`` for ``section`` (``camera``, ``mask``, ``background``, ``harmonise``)."""
        if section not in SECTIONS:
            raise ValueError(f"section must be one of {', '.join(SECTIONS)}, got {section!r}")
        expected = {"camera": CameraConfig, "mask": MaskConfig, "background": BackgroundConfig,
                    "harmonise": HarmoniseConfig}[section]
        if not isinstance(config, expected):
            raise TypeError(f"{section} must be a {expected.__name__}, got "
                            f"{type(config).__name__}")
        def wish() -> None:
            self._want[section] = config
            if section == "camera" and self._fallback:
                self._restart = True  # chosen again: try the camera again
        self._wish(wish)

    def set_effect(self, enabled: bool) -> None:
        """Off: the camera picture goes out as it is (no background, no harmonisation)."""
        self._wish(lambda: setattr(self, "_effect", bool(enabled)))

    def set_virtual_camera(self, on: bool) -> None:
        """Connect the virtual camera device (or release it)."""
        def wish() -> None:
            self._vcam_want = bool(on)
            if on:
                self._vcam_error = VirtualCameraState()
        self._wish(wish)

    def restart(self) -> None:
        """Build the pipeline again (after it stopped on an error, say)."""
        self._wish(lambda: setattr(self, "_restart", True))

    def _wish(self, change) -> None:
        with self._cond:
            change()
            self._dirty = True
            self._cond.notify_all()

    # ------------------------------------------------------------------ GUI thread: reading

    @property
    def effect(self) -> bool:
        return self._effect

    @property
    def pipeline(self) -> Any:
        """The running ``Pipeline`` or ``None`` (while the first one is being built)."""
        return self._pipeline

    @property
    def busy(self) -> bool:
        """The worker has wishes it has not finished applying."""
        with self._cond:
            return self._dirty or self._working

    def preview_frames(self) -> tuple[int, np.ndarray | None, np.ndarray | None]:
        """(frames received, newest output, its camera frame); frames are read-only."""
        preview = self._preview
        if preview is None:
            return -1, None, None
        return preview.frames_received, preview.latest(), preview.latest_input()

    def stats_snapshot(self) -> dict | None:
        pipeline = self._pipeline
        return pipeline.stats.snapshot() if pipeline is not None else None

    def harmonise_info(self) -> dict:
        """What harmonisation runs, as of the last change (no lock taken)."""
        return dict(self._info)

    def pipeline_error(self) -> BaseException | None:
        pipeline = self._pipeline
        return pipeline.error if pipeline is not None else None

    def virtual_camera_state(self) -> VirtualCameraState:
        output = self._output
        if output is not None and output.connected:
            return output.state()
        return self._vcam_error

    # -------------------------------------------------------------------------- closing

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop the worker and the pipeline (camera, stages, virtual camera). Idempotent."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("the panel's worker did not stop within %.0f s", timeout)
        pipeline, self._pipeline = self._pipeline, None
        self._preview = self._output = None
        if pipeline is not None:
            pipeline.stop()

    # ------------------------------------------------------------------------- the worker

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                self._dirty = False
                self._working = True
            try:
                self._reconcile()
            except Exception as exc:  # noqa: BLE001 - the worker must survive a bad wish
                logger.exception("applying the panel's settings failed")
                self.message.emit(f"Could not apply the settings: {type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    self._working = False

    def _effective(self, want: dict[str, Any], effect: bool) -> tuple[Any, Any]:
        if effect:
            return want["background"], want["harmonise"]
        return BYPASS_BACKGROUND, dataclasses.replace(want["harmonise"], mode="off")

    def _reconcile(self) -> None:
        with self._cond:
            want = dict(self._want)
            effect, restart = self._effect, self._restart
            self._restart = False
        pipeline = self._pipeline
        if pipeline is None or restart or want["camera"] != self._camera:
            self._rebuild(want, effect)
        else:
            background, harmonise = self._effective(want, effect)
            self._apply(pipeline, "mask", want["mask"])
            changed = self._apply(pipeline, "background", background)
            if self._apply(pipeline, "harmonise", harmonise) or changed:
                self._publish_info(pipeline)  # the background decides whether it applies
        self._apply_virtual_camera()

    def _apply(self, pipeline: Any, section: str, config: Any) -> bool:
        """Call the live setter if ``config`` is new; True if it changed something."""
        if getattr(pipeline.config, section) == config:
            return False
        from vcam.backgrounds import BackgroundError
        from vcam.harmonise_stage import HarmoniseError

        setter = {"mask": pipeline.set_mask, "background": pipeline.set_background,
                  "harmonise": pipeline.set_harmonise}[section]
        try:
            setter(config)
        except (BackgroundError, HarmoniseError, ValueError, OSError) as exc:
            kept = getattr(pipeline.config, section)
            if section == "harmonise":
                # What runs may be the bypass ("off"); give the GUI back the user's settings
                # with only the fields that failed restored.
                kept = dataclasses.replace(config, mode=kept.mode, model=kept.model,
                                           backend=kept.backend, device=kept.device,
                                           resolution=kept.resolution)
            self._revert(section, config, kept, _one_line(exc))
            return False
        return True

    def _revert(self, section: str, failed: Any, kept: Any, reason: str) -> None:
        """Go back to ``kept`` unless the GUI has asked for something else meanwhile."""
        with self._cond:
            reverted = self._want[section] == failed
            if reverted:
                self._want[section] = kept
        if reverted:
            self.adjusted.emit(section, kept, reason)
        else:
            self.message.emit(reason)

    def _rebuild(self, want: dict[str, Any], effect: bool) -> None:
        from vcam.backgrounds import BackgroundError
        from vcam.harmonise_stage import HarmoniseError
        from vcam.pipeline import Pipeline, PipelineConfig
        from vcam.sinks import PreviewSink

        old = self._pipeline
        self._pipeline = self._preview = self._output = None
        if old is not None:
            old.stop()  # releases the camera before the new one opens it again

        wanted = want["camera"]
        camera, source = self._open_source(wanted)
        if source is None:
            return
        preview, output = PreviewSink(keep_input=True), VirtualCameraOutput()
        pipeline = None
        for _attempt in range(4):
            background, harmonise = self._effective(want, effect)
            try:
                pipeline = Pipeline(source, [preview, output], PipelineConfig(
                    camera=camera, mask=want["mask"], background=background,
                    harmonise=harmonise))
                break
            except BackgroundError as exc:  # a saved picture that was deleted, say
                default = BackgroundConfig()
                self._revert("background", want["background"], default, _one_line(exc))
                want["background"] = default
            except HarmoniseError as exc:  # a saved model that is gone, a GPU that is not
                kept = _safer_harmonise(want["harmonise"])
                self._revert("harmonise", want["harmonise"], kept, _one_line(exc))
                want["harmonise"] = kept
            except Exception as exc:  # noqa: BLE001 - tell the user, keep the panel open
                logger.exception("cannot build the pipeline")
                self.message.emit(f"Cannot start the pipeline: {_one_line(exc)}")
                break
        if pipeline is None:
            source.close()
            return
        pipeline.start()
        with self._cond:
            stopping = self._stopping
        if stopping:  # shutdown() gave up waiting for us: do not leave a camera running
            pipeline.stop()
            return
        fallback = camera != wanted
        with self._cond:
            self._camera, self._fallback = wanted, fallback
        self._pipeline, self._preview, self._output = pipeline, preview, output
        self._publish_info(pipeline)
        self.started.emit(SourceInfo(camera.device, int(source.width), int(source.height),
                                     float(pipeline.output_fps),
                                     instead_of=wanted.device if fallback else None))

    def _open_source(self, camera: CameraConfig) -> tuple[CameraConfig, Any]:
        """The source for ``camera``; an unavailable camera falls back to the demo source, and
        ``fell_back`` says so (the wish stays ``camera``)."""
        from vcam.sources import SourceError, open_source

        try:
            return camera, open_source(camera.device, camera)
        except SourceError as exc:
            if camera.device == DEMO_DEVICE:
                self.message.emit(f"Cannot start the demo source: {_one_line(exc)}")
                return camera, None
            demo = dataclasses.replace(camera, device=DEMO_DEVICE)
            reason = _one_line(exc).rstrip(".")
            self.fell_back.emit(
                f"{reason}. Showing the demo source instead. Your camera setting is "
                "kept: choose the camera again (Camera tab) once it is connected, or restart "
                "the panel.")
        try:
            return demo, open_source(DEMO_DEVICE, demo)
        except SourceError as exc:
            self.message.emit(f"Cannot start the demo source: {_one_line(exc)}")
            return demo, None

    def _publish_info(self, pipeline: Any) -> None:
        self._info = pipeline.harmonise_info()
        self.harmonise_info_changed.emit(dict(self._info))

    def _apply_virtual_camera(self) -> None:
        from vcam.sinks import NoVirtualCameraError, SinkError, VirtualCameraSink, install_hint

        output, pipeline = self._output, self._pipeline
        if output is None or pipeline is None:
            return
        with self._cond:
            want = self._vcam_want
        if want and not output.connected:
            source = pipeline.source
            try:
                sink = VirtualCameraSink(int(source.width), int(source.height),
                                         float(pipeline.output_fps), device=self._vcam_device,
                                         backend=self._vcam_backend)
            except (SinkError, ValueError, RuntimeError) as exc:
                hint = install_hint() if isinstance(exc, NoVirtualCameraError) else ""
                logger.warning("virtual camera: %s", exc)
                state = VirtualCameraState(error=_one_line(exc), hint=hint)
                with self._cond:
                    self._vcam_want = False
                    self._vcam_error = state
                self.virtual_camera_changed.emit(state)
                return
            output.connect(sink)
            self.virtual_camera_changed.emit(output.state())
        elif not want and output.connected:
            output.disconnect()
            self.virtual_camera_changed.emit(VirtualCameraState())


def _safer_harmonise(cfg: HarmoniseConfig) -> HarmoniseConfig:
    """One step towards a harmoniser that surely loads: the bundled model, then automatic
    backend and device, then colour transfer."""
    if cfg.model:
        return dataclasses.replace(cfg, model="")
    if cfg.backend != "auto" or cfg.device != "auto":
        return dataclasses.replace(cfg, backend="auto", device="auto")
    return dataclasses.replace(cfg, mode="colortransfer")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
