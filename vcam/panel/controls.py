"""The settings tabs: harmonisation, mask, camera, and the virtual camera's start button.

Each group shows one config of ``vcam.config`` (``set_config``, which emits nothing) and
emits ``changed(config)`` with a new, checked config when the user moves a control. Nothing
here talks to the pipeline: the window forwards the configs.
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from phnet.bundled import models_dir as bundled_models_dir
from vcam.config import (
    HARMONISE_BACKENDS,
    REFINE_METHODS,
    CameraConfig,
    HarmoniseConfig,
    MaskConfig,
)
from vcam.panel.cameras import list_cameras
from vcam.panel.thumbnails import VIDEO_SUFFIXES
from vcam.panel.virtual_output import VirtualCameraState
from vcam.sinks import CAMERA_NAME, MODPROBE_COMMAND, install_hint

DEMO_DEVICE = "demo"
HARMONISE_MODE_LABELS = (("phnet", "PHNet"), ("light", "Light only"),
                         ("colortransfer", "Colour transfer"), ("off", "Off"))
HARMONISE_DEVICES = ("auto", "cpu", "cuda")
RESOLUTIONS = (0, 128, 192, 256, 320, 384, 512, 768, 1024)
CAMERA_SIZES = ((320, 240), (640, 480), (960, 540), (1280, 720), (1920, 1080))
CAMERA_RATES = (15.0, 24.0, 25.0, 30.0, 60.0)
MODEL_SUFFIXES = (".safetensors", ".onnx")


def models_dir() -> Path | None:
    """The bundled models' folder (package data, ``phnet.bundled``); None if not installed."""
    try:
        return bundled_models_dir()
    except FileNotFoundError:
        return None


def bundled_models() -> list[Path]:
    folder = models_dir()
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in MODEL_SUFFIXES and p.is_file())


class LabelledSlider(QWidget):
    """A slider over integers with its value shown beside it as text."""

    valueChanged = Signal(int)  # noqa: N815 - Qt's naming

    def __init__(self, low: int, high: int, fmt, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fmt = fmt
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(low, high)
        self.label = QLabel()
        self.label.setMinimumWidth(44)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._changed)
        self._show()

    def _changed(self, value: int) -> None:
        self._show()
        self.valueChanged.emit(value)

    def _show(self) -> None:
        self.label.setText(self._fmt(self.slider.value()))

    def value(self) -> int:
        return self.slider.value()

    def setValue(self, value: int) -> None:  # noqa: N802 - Qt's naming
        self.slider.setValue(int(round(value)))
        self._show()


def _select_data(combo: QComboBox, data) -> bool:
    index = combo.findData(data)
    if index >= 0:
        combo.setCurrentIndex(index)
    return index >= 0


class _ConfigGroup(QWidget):
    """Shared plumbing: ``set_config`` without signals, ``changed`` when the user acts."""

    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self._config = None

    @property
    def config(self):
        return self._config

    def set_config(self, config) -> None:
        self._loading = True
        try:
            self._config = config
            self._show(config)
        finally:
            self._loading = False

    def _show(self, config) -> None:
        raise NotImplementedError

    def _read(self, config):
        raise NotImplementedError

    def _user_changed(self, *_args, again: bool = False) -> None:
        """Emit ``changed`` with the controls' config if it changed (or, with ``again``, even if
        it did not: the user chose the same thing once more)."""
        if self._loading or self._config is None:
            return
        config = self._read(self._config)
        if again or config != self._config:
            self._config = config
            self.changed.emit(config)


class HarmoniseControls(_ConfigGroup):
    """Method, model, backend, device, strength, temporal smoothing, working resolution."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QComboBox()
        for value, label in HARMONISE_MODE_LABELS:
            self.mode.addItem(label, value)
        self.mode.setToolTip("PHNet falls back to colour transfer when no checkpoint is "
                             "available; the status line says which one runs.")
        self.model = QComboBox()
        self.model.setToolTip("The PHNet checkpoint (.safetensors or .onnx)")
        self._fill_models("")
        self.backend = QComboBox()
        for value in HARMONISE_BACKENDS:
            self.backend.addItem({"auto": "Automatic", "torch": "PyTorch",
                                  "onnxruntime": "ONNX Runtime"}[value], value)
        self.device = QComboBox()
        for value in HARMONISE_DEVICES:
            self.device.addItem({"auto": "Automatic", "cpu": "CPU", "cuda": "GPU (CUDA)"}[value],
                                value)
        self.strength = LabelledSlider(0, 100, lambda v: f"{v}%")
        self.strength.setToolTip("0%: the plain composite; 100%: fully harmonised")
        self.smoothing = LabelledSlider(0, 95, lambda v: f"{v}%")
        self.smoothing.setToolTip("Temporal smoothing of the colour statistics (steadier "
                                  "colours, slower to follow a change of light)")
        self.resolution = QComboBox()
        for value in RESOLUTIONS:
            self.resolution.addItem("Model default" if value == 0 else f"{value} px", value)
        self.resolution.setToolTip("Long side of the network's input; the result is upsampled "
                                   "to the full frame")

        form = QFormLayout(self)
        form.addRow("Method", self.mode)
        form.addRow("Model", self.model)
        form.addRow("Backend", self.backend)
        form.addRow("Device", self.device)
        form.addRow("Strength", self.strength)
        form.addRow("Temporal smoothing", self.smoothing)
        form.addRow("Working resolution", self.resolution)

        for combo in (self.mode, self.backend, self.device, self.resolution):
            combo.currentIndexChanged.connect(self._user_changed)
        self.model.activated.connect(self._on_model)
        self.strength.valueChanged.connect(self._user_changed)
        self.smoothing.valueChanged.connect(self._user_changed)

    def _fill_models(self, current: str) -> None:
        self.model.clear()
        self.model.addItem("Bundled (models/)", "")
        for path in bundled_models():
            self.model.addItem(path.name, str(path))
        if current and self.model.findData(current) < 0:
            self.model.addItem(Path(current).name, current)
        self.model.addItem("Choose file…", None)
        _select_data(self.model, current)

    def _on_model(self, index: int) -> None:
        if self.model.itemData(index) is None:  # "Choose file…"
            path, _ = QFileDialog.getOpenFileName(
                self, "PHNet checkpoint", str(models_dir() or Path.home()),
                "PHNet models (*.safetensors *.onnx)")
            self.choose_model(path or None)
            return
        self._user_changed()

    def choose_model(self, path: str | None) -> None:
        """Use the checkpoint at ``path`` ("" = the bundled default; ``None`` = the dialog was
        cancelled: keep the current one). What the file dialog calls."""
        current = self._config.model if self._config is not None else ""
        self._loading = True
        try:
            self._fill_models(current if path is None else path)
        finally:
            self._loading = False
        if path is not None:
            self._user_changed()

    def _show(self, config: HarmoniseConfig) -> None:
        _select_data(self.mode, config.mode)
        self._fill_models(config.model)
        _select_data(self.backend, config.backend)
        device = config.device if config.device in HARMONISE_DEVICES else "cuda"
        _select_data(self.device, device)
        self.strength.setValue(config.strength * 100)
        self.smoothing.setValue((1.0 - config.momentum) * 100)
        if not _select_data(self.resolution, config.resolution):
            self.resolution.addItem(f"{config.resolution} px", config.resolution)
            _select_data(self.resolution, config.resolution)
        self._enable(config.mode)

    def _enable(self, mode: str) -> None:
        phnet = mode == "phnet"
        for widget in (self.model, self.backend, self.device, self.resolution):
            widget.setEnabled(phnet)
        for widget in (self.strength, self.smoothing):
            widget.setEnabled(mode != "off")

    def _read(self, config: HarmoniseConfig) -> HarmoniseConfig:
        model = self.model.currentData()
        device = self.device.currentData()
        if device == "cuda" and config.device.startswith("cuda"):
            device = config.device  # keep cuda:N
        self._enable(self.mode.currentData())
        return dataclasses.replace(
            config,
            mode=self.mode.currentData(),
            model=config.model if model is None else model,
            backend=self.backend.currentData(),
            device=device,
            strength=self.strength.value() / 100.0,
            momentum=max(0.05, 1.0 - self.smoothing.value() / 100.0),
            resolution=self.resolution.currentData(),
        )


#: The person models the panel offers, with their labels (``vcam.config.SEGMENTATION_MODELS``).
PERSON_MODELS = (
    ("auto", "Selfie model (by frame shape)"),
    ("general", "Selfie model, general"),
    ("landscape", "Selfie model, landscape"),
    ("rvm", "Robust Video Matting (hair; install it)"),
)

#: RVM's downsample ratios offered by the panel (``[mask] rvm_downsample_ratio``); a value from
#: the settings file that is not here is added to the list when it is shown, not lost.
RVM_DETAILS = (
    (0.0, "Auto (about 240 px)"),
    (0.25, "Fast (0.25)"),
    (0.5, "Finer (0.5)"),
    (0.75, "Finest (0.75)"),
)


def rvm_missing() -> str:
    """Why Robust Video Matting cannot run here (one line), or '' when it can."""
    from vcam.rvm_matter import RvmUnavailable, find_graph

    try:
        find_graph()
    except RvmUnavailable as exc:
        return str(exc)
    return ""


class MaskControls(_ConfigGroup):
    """Person model, temporal smoothing, threshold, edge softness (the threshold band) and
    refinement."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QComboBox()
        for value, label in PERSON_MODELS:
            self.model.addItem(label, value)
        self.model.setToolTip(
            "The selfie models are bundled. Robust Video Matting keeps hair and costs several "
            "times the CPU; it is GPL-3.0, so it is installed separately (README)")
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        self.model_note.hide()
        self.rvm_detail = QComboBox()
        for value, label in RVM_DETAILS:
            self.rvm_detail.addItem(label, value)
        self.rvm_detail.setToolTip(
            "How much of the frame's size Robust Video Matting's backbone sees: finer hair at "
            "several times the CPU (docs/MATTING.md)")
        self.smoothing = LabelledSlider(0, 95, lambda v: f"{v}%")
        self.smoothing.setToolTip("Weight of the previous mask: steadier edges, more lag")
        self.threshold = LabelledSlider(5, 95, lambda v: f"{v / 100:.2f}")
        self.threshold.setToolTip("Confidence above which a pixel counts as the person")
        self.softness = LabelledSlider(2, 90, lambda v: f"{v / 100:.2f}")
        self.softness.setToolTip("Width of the band around the threshold where the edge fades")
        self.refine = QComboBox()
        for value in REFINE_METHODS:
            self.refine.addItem({"guided": "Guided filter", "bilateral": "Joint bilateral",
                                 "none": "None"}[value], value)
        self.refine.setToolTip("Edge refinement at full resolution, guided by the picture")
        form = QFormLayout(self)
        form.addRow("Person model", self.model)
        form.addRow(self.model_note)
        form.addRow("RVM detail", self.rvm_detail)
        form.addRow("Smoothing", self.smoothing)
        form.addRow("Threshold", self.threshold)
        form.addRow("Edge softness", self.softness)
        form.addRow("Edge refinement", self.refine)
        for slider in (self.smoothing, self.threshold, self.softness):
            slider.valueChanged.connect(self._user_changed)
        self.refine.currentIndexChanged.connect(self._user_changed)
        self.model.currentIndexChanged.connect(self._user_changed)
        self.rvm_detail.currentIndexChanged.connect(self._user_changed)

    def _note(self, model: str) -> None:
        """The one line that says RVM was chosen and cannot run, and what runs instead; the
        RVM detail is offered only while RVM runs."""
        missing = rvm_missing() if model == "rvm" else ""
        self.model_note.setText(f"{missing}; the selfie model runs instead." if missing else "")
        self.model_note.setVisible(bool(missing))
        self.rvm_detail.setEnabled(model == "rvm" and not missing)

    def _show(self, config: MaskConfig) -> None:
        _select_data(self.model, config.model)
        if not _select_data(self.rvm_detail, config.rvm_downsample_ratio):
            self.rvm_detail.addItem(f"{config.rvm_downsample_ratio:g} (settings file)",
                                    config.rvm_downsample_ratio)
            _select_data(self.rvm_detail, config.rvm_downsample_ratio)
        self._note(config.model)
        self.smoothing.setValue(config.smoothing * 100)
        self.threshold.setValue((config.threshold_low + config.threshold_high) * 50)
        self.softness.setValue((config.threshold_high - config.threshold_low) * 100)
        _select_data(self.refine, config.refine)

    def _read(self, config: MaskConfig) -> MaskConfig:
        centre = self.threshold.value() / 100.0
        half = self.softness.value() / 200.0
        low, high = max(0.0, centre - half), min(1.0, centre + half)
        model = self.model.currentData()
        self._note(model)
        return dataclasses.replace(
            config, model=model, rvm_downsample_ratio=self.rvm_detail.currentData(),
            smoothing=self.smoothing.value() / 100.0,
            threshold_low=round(low, 4), threshold_high=round(high, 4),
            refine=self.refine.currentData())


class CameraControls(_ConfigGroup):
    """Source (demo, a camera, a video file), size, rate and mirror."""

    _FILE_ACTION = "\0file"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = QComboBox()
        self.source.setMinimumContentsLength(18)
        self.source.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for cameras again")
        self.refresh_button.clicked.connect(self.refresh)
        self.size = QComboBox()
        for w, h in CAMERA_SIZES:
            self.size.addItem(f"{w} × {h}", f"{w}x{h}")
        self.fps = QComboBox()
        for rate in CAMERA_RATES:
            self.fps.addItem(f"{rate:g} fps", rate)
        self.mirror = QCheckBox("Mirror the picture")
        self.note = QLabel("The camera may deliver another size or rate than asked for; "
                           "the status line shows what it delivers.")
        self.note.setWordWrap(True)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(self.refresh_button)
        form = QFormLayout(self)
        form.addRow("Source", source_row)
        form.addRow("Resolution", self.size)
        form.addRow("Frame rate", self.fps)
        form.addRow("", self.mirror)
        form.addRow(self.note)
        self._cameras: list[tuple[str, str]] = []
        self.refresh()
        self.source.activated.connect(self._on_source)
        self.size.currentIndexChanged.connect(self._user_changed)
        self.fps.currentIndexChanged.connect(self._user_changed)
        self.mirror.toggled.connect(self._user_changed)

    @property
    def cameras(self) -> list[tuple[str, str]]:
        return list(self._cameras)

    def refresh(self) -> None:
        """List the cameras again (cheap: nothing is opened)."""
        self._cameras = list_cameras()
        current = self._config.device if self._config is not None else DEMO_DEVICE
        self._fill(current)

    def _fill(self, current: str) -> None:
        loading, self._loading = self._loading, True
        self.source.clear()
        self.source.addItem("Demo source", DEMO_DEVICE)
        for label, device in self._cameras:
            self.source.addItem(label, device)
        if current and self.source.findData(current) < 0:
            label = (f"Camera {current}" if current.isdigit()
                     else f"File: {Path(current).name}" if Path(current).is_file()
                     else current)
            self.source.addItem(label, current)
        self.source.addItem("Video file…", self._FILE_ACTION)
        _select_data(self.source, current)
        self._loading = loading

    def _on_source(self, index: int) -> None:
        if self.source.itemData(index) == self._FILE_ACTION:
            suffixes = " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES))
            path, _ = QFileDialog.getOpenFileName(self, "Video file as the camera",
                                                  str(Path.home()), f"Videos ({suffixes})")
            if not path:
                self._fill(self._config.device)  # cancelled: back to the previous source
                return
            self.choose_device(path)
            return
        self._user_changed(again=True)

    def choose_device(self, device: str) -> None:
        """Use ``device``: ``demo``, a camera index or path, or a video file. Choosing the
        current one again is reported too: it tries a camera that did not open once more."""
        self._fill(device)
        self._user_changed(again=True)

    def _show(self, config: CameraConfig) -> None:
        self._fill(config.device)
        size = f"{config.width}x{config.height}"  # Qt keeps strings as they are, not tuples
        if not _select_data(self.size, size):
            self.size.addItem(f"{config.width} × {config.height}", size)
            _select_data(self.size, size)
        if not _select_data(self.fps, config.fps):
            self.fps.addItem(f"{config.fps:g} fps", config.fps)
            _select_data(self.fps, config.fps)
        self.mirror.setChecked(config.mirror)

    def _read(self, config: CameraConfig) -> CameraConfig:
        device = self.source.currentData()
        if device in (None, self._FILE_ACTION):
            device = config.device
        width, height = (int(v) for v in self.size.currentData().split("x"))
        return dataclasses.replace(config, device=device, width=width, height=height,
                                   fps=float(self.fps.currentData()),
                                   mirror=self.mirror.isChecked())


def setup_steps(system: str | None = None) -> str:
    """What to do to get a virtual camera, as rich text for the panel."""
    system = platform.system() if system is None else system
    if system == "Linux":
        return (
            "<b>No virtual camera device found.</b> The preview keeps working; to send the "
            f"picture to video calls as “{CAMERA_NAME}”:<br>"
            "1. install v4l2loopback, e.g. <code style='white-space: pre'>sudo apt install "
            "v4l2loopback-dkms</code><br>"
            f"2. create the device:<br><code style='white-space: pre'>"
            f"{_html(MODPROBE_COMMAND)}</code><br>"
            "3. press <i>Start</i> again."
        )
    return (f"<b>No virtual camera device found.</b> The preview keeps working. To send the "
            f"picture to video calls: {_html(install_hint(system))}, then press "
            "<i>Start</i> again.")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class VirtualCameraControls(QFrame):
    """Start/stop, what the device is doing, and the setup steps when there is none.

    Signals:
        toggled(bool): the user wants the virtual camera on (or off).
    """

    toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.button = QPushButton("Start virtual camera")
        self.button.setCheckable(True)
        self.button.toggled.connect(self._on_button)
        self.state_label = QLabel("Virtual camera: off")
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Copy command")
        self.copy_button.setToolTip("Copy the modprobe command to the clipboard")
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(MODPROBE_COMMAND))
        self.copy_button.hide()
        self.hint.hide()  # the setup steps: shown only when there is no device
        top = QHBoxLayout()
        top.addWidget(self.button)
        top.addWidget(self.state_label, 1)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.hint)

    def _on_button(self, on: bool) -> None:
        self.button.setText("Stop virtual camera" if on else "Start virtual camera")
        if on:
            self.state_label.setText("Virtual camera: starting…")
        self.toggled.emit(on)

    def set_on(self, on: bool) -> None:
        """Show the button as on/off without emitting ``toggled``."""
        blocked = self.button.blockSignals(True)
        self.button.setChecked(on)
        self.button.setText("Stop virtual camera" if on else "Start virtual camera")
        self.button.blockSignals(blocked)

    def show_state(self, state: VirtualCameraState) -> None:
        if state.active:
            self.set_on(True)
            self.hint.hide()
            self.copy_button.hide()
            self.state_label.setText(
                f"Sending to {state.device or CAMERA_NAME} · {state.width}×{state.height} · "
                f"{state.fps:.3g} fps · {state.frames_sent} frames sent")
            return
        if state.error:
            self.set_on(False)
            self.state_label.setText("Virtual camera: not available")
            if state.hint:
                self.hint.setText(setup_steps())
                self.copy_button.setVisible(platform.system() == "Linux")
            else:
                self.hint.setText(f"<b>The virtual camera could not start:</b> "
                                  f"{_html(state.error)}")
                self.copy_button.hide()
            self.hint.setToolTip(state.error)
            self.hint.show()
            return
        if not self.button.isChecked():
            self.state_label.setText("Virtual camera: off")
