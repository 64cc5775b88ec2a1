"""The control panel's main window: preview, status line, gallery, settings tabs, the virtual
camera, hotkeys, an optional tray icon, and the settings kept between sessions."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QIcon,
    QKeySequence,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QSplitter,
    QSystemTrayIcon,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vcam.config import CameraConfig
from vcam.panel.controller import DEMO_DEVICE, PipelineController, SourceInfo
from vcam.panel.controls import (
    CameraControls,
    HarmoniseControls,
    MaskControls,
    VirtualCameraControls,
)
from vcam.panel.gallery import BackgroundGallery
from vcam.panel.preview import PreviewWidget
from vcam.panel.settings_io import (
    PanelPrefs,
    load_prefs,
    load_settings_or_defaults,
    prefs_path_for,
    save_prefs,
    save_settings_quietly,
)
from vcam.panel.status import describe_harmoniser, format_rates
from vcam.panel.thumbnails import ThumbnailLoader
from vcam.settings import APP_NAME, Settings, default_settings_path
from vcam.sinks import CAMERA_NAME

logger = logging.getLogger(__name__)

STATUS_INTERVAL_MS = 500
SAVE_DELAY_MS = 1000
#: Changes that rebuild something (camera, model, resolution) wait for the user to stop.
HEAVY_DELAY_MS = 400
_HEAVY_HARMONISE_FIELDS = ("mode", "model", "backend", "device", "resolution")

SHORTCUT_EFFECT = "Ctrl+E"
SHORTCUT_NEXT = "Ctrl+]"
SHORTCUT_PREVIOUS = "Ctrl+["


def app_icon() -> QIcon:
    """A camera lens on a rounded square, drawn here (no image file to ship)."""
    pixmap = QPixmap(64, 64)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(40, 110, 90))
    painter.drawRoundedRect(2, 2, 60, 60, 14, 14)
    painter.setBrush(QColor(235, 235, 235))
    painter.drawEllipse(14, 14, 36, 36)
    painter.setBrush(QColor(30, 60, 80))
    painter.drawEllipse(22, 22, 20, 20)
    painter.end()
    return QIcon(pixmap)


class MainWindow(QMainWindow):
    """The panel.

    Args:
        settings_path: the settings file (``None``: ``default_settings_path()``); the panel's
            own preferences are kept beside it (``panel.json``).
        camera: use this source instead of the saved one (``demo``, an index, a file).
        system_backgrounds: pictures to list in the gallery (``None``:
            ``vcam.backgrounds.gallery()``: the bundled ones and the machine's wallpapers).
        thumbnail_cache: folder for thumbnail PNGs (``None``: the user's cache folder;
            ``False``: memory only).
        vcam_device, vcam_backend: for ``VirtualCameraSink`` (tests use a stand-in backend).
        tray: show a tray icon where the desktop has a tray.
    """

    def __init__(
        self,
        settings_path: str | Path | None = None,
        *,
        camera: str | None = None,
        system_backgrounds: Iterable[Path] | None = None,
        thumbnail_cache: Path | None | bool = None,
        vcam_device: str | None = None,
        vcam_backend: str | None = None,
        tray: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"{CAMERA_NAME}")
        self.setWindowIcon(app_icon())
        self._closed = False
        self.settings_path = Path(settings_path) if settings_path else default_settings_path()
        self.prefs_path = prefs_path_for(self.settings_path)

        notices: list[str] = []
        loaded = load_settings_or_defaults(self.settings_path)
        if loaded.notice:
            notices.append(loaded.notice)
        self.prefs, prefs_notice = load_prefs(self.prefs_path)
        if prefs_notice:
            notices.append(prefs_notice)
        settings = loaded.settings

        self.camera_controls = CameraControls()
        if camera is not None:
            settings = dataclasses.replace(
                settings, camera=dataclasses.replace(settings.camera, device=camera))
        elif not loaded.existed:
            settings = dataclasses.replace(settings, camera=self._first_camera(settings.camera))
        self._settings = settings
        self._sent: dict[str, object] = {}  # what the controller was last given, per section
        self._heavy: dict[str, object] = {}  # waiting for the user to stop changing them

        # ----------------------------------------------------------------- the pipeline
        self.controller = PipelineController(settings, vcam_device=vcam_device,
                                             vcam_backend=vcam_backend, parent=self)
        self._sent = {s: getattr(settings, s) for s in ("camera", "mask", "background",
                                                          "harmonise")}

        # ---------------------------------------------------------------------- widgets
        if thumbnail_cache is None:
            import platformdirs

            cache: Path | None = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) \
                / "thumbnails"
        else:
            cache = None if thumbnail_cache is False else Path(thumbnail_cache)
        self.thumbnails = ThumbnailLoader(cache, parent=self)
        if system_backgrounds is None:
            from vcam.backgrounds import gallery

            system_backgrounds = gallery()
        self.gallery = BackgroundGallery(self.thumbnails, system_backgrounds)
        self.gallery.restore_user_paths(self.prefs.user_paths)
        self.harmonise_controls = HarmoniseControls()
        self.mask_controls = MaskControls()
        self.vcam_controls = VirtualCameraControls()
        self.preview = PreviewWidget()
        self.preview.set_mode(self.prefs.view)
        self.preview.set_split(self.prefs.split)

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner.setStyleSheet("#banner { background: #fff3cd; border: 1px solid #e0c36a; "
                                  "border-radius: 4px; } #banner QLabel { color: #4d3b00; }")
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        banner_close = QToolButton()
        banner_close.setText("✕")
        banner_close.setAutoRaise(True)
        banner_close.setToolTip("Dismiss")
        banner_close.clicked.connect(self.banner.hide)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(8, 4, 4, 4)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(banner_close, 0, Qt.AlignmentFlag.AlignTop)
        self.banner.hide()
        self.statusBar()  # there from the start, so the layout does not jump at a message

        self.rates_label = QLabel("starting…")
        self.harmoniser_label = QLabel(describe_harmoniser({}))
        self.source_label = QLabel("")
        for label in (self.rates_label, self.harmoniser_label, self.source_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # Wrapped, so that a long line never makes the window wider than it opened (the
            # gallery, squeezed, cut its buttons' labels).
            label.setWordWrap(True)

        self.view_buttons: dict[str, QToolButton] = {}
        view_row = QHBoxLayout()
        view_row.setSpacing(2)
        view_row.addWidget(QLabel("Show:"))
        for mode, text, tip in (("output", "Output", "What the virtual camera sends"),
                                ("split", "Before | after", "Camera left, output right; drag "
                                 "the line"),
                                ("input", "Camera", "The camera picture as it comes")):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setAutoExclusive(True)
            button.setChecked(mode == self.preview.mode)
            button.clicked.connect(lambda _checked=False, m=mode: self.set_view(m))
            self.view_buttons[mode] = button
            view_row.addWidget(button)
        view_row.addStretch(1)
        self.effect_button = QPushButton()
        self.effect_button.setCheckable(True)
        self.effect_button.setChecked(True)
        self.effect_button.setToolTip(f"Background and harmonisation on or off ({SHORTCUT_EFFECT})")
        self.effect_button.toggled.connect(self.set_effect)
        self._show_effect(True)
        view_row.addWidget(self.effect_button)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 6, 6)
        left_layout.addWidget(self.banner)
        left_layout.addWidget(self.preview, 1)
        left_layout.addLayout(view_row)
        left_layout.addWidget(self.rates_label)
        left_layout.addWidget(self.harmoniser_label)
        left_layout.addWidget(self.source_label)
        left_layout.addWidget(self.vcam_controls)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.gallery, "Background")
        self.tabs.addTab(_padded(self.harmonise_controls), "Harmonise")
        self.tabs.addTab(_padded(self.mask_controls), "Mask")
        self.tabs.addTab(_padded(self.camera_controls), "Camera")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([620, 380])
        self.setCentralWidget(splitter)
        self.resize(1000, 640)
        if self.prefs.geometry:
            self.restoreGeometry(QByteArray.fromHex(self.prefs.geometry.encode("ascii")))

        self._make_actions()
        self.tray = self._make_tray() if tray else None

        # ------------------------------------------------------------------- show state
        self.gallery.set_config(settings.background)
        self.harmonise_controls.set_config(settings.harmonise)
        self.mask_controls.set_config(settings.mask)
        self.camera_controls.set_config(settings.camera)

        # ----------------------------------------------------------------------- wiring
        self.gallery.changed.connect(lambda cfg: self._user_changed("background", cfg))
        self.gallery.user_paths_changed.connect(lambda _paths: self._schedule_save())
        self.gallery.notice.connect(self.notify)
        self.harmonise_controls.changed.connect(lambda cfg: self._user_changed("harmonise", cfg))
        self.mask_controls.changed.connect(lambda cfg: self._user_changed("mask", cfg))
        self.camera_controls.changed.connect(lambda cfg: self._user_changed("camera", cfg))
        self.vcam_controls.toggled.connect(self.controller.set_virtual_camera)
        self.preview.split_moved.connect(lambda _f: self._schedule_save())

        self.controller.started.connect(self._on_started)
        self.controller.adjusted.connect(self._on_adjusted)
        self.controller.fell_back.connect(lambda text: self.notify(text, banner=True))
        self.controller.message.connect(self.notify)
        self.controller.harmonise_info_changed.connect(self._on_harmonise_info)
        self.controller.virtual_camera_changed.connect(self._on_virtual_camera)

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_now)
        self._heavy_timer = QTimer(self)
        self._heavy_timer.setSingleShot(True)
        self._heavy_timer.setInterval(HEAVY_DELAY_MS)
        self._heavy_timer.timeout.connect(self._send_heavy)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self.refresh_status)

        self.preview.set_feed(self.controller.preview_frames)
        self.controller.start()
        self._status_timer.start()
        for notice in notices:
            self.notify(notice, banner=True)
        if not loaded.existed:
            self._schedule_save()

    # ------------------------------------------------------------------------ set-up

    def _first_camera(self, camera: CameraConfig) -> CameraConfig:
        """First start: the first camera found, else the default one. With no camera there, the
        demo source runs in its place and the window says so, but the demo is not saved as the
        user's choice: the next start with a webcam plugged in uses the webcam."""
        cameras = self.camera_controls.cameras
        return dataclasses.replace(camera, device=cameras[0][1]) if cameras else camera

    def _make_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        add_files = file_menu.addAction("Add backgrounds…")
        add_files.triggered.connect(self.gallery.add_files_button.click)
        add_folder = file_menu.addAction("Add background folder…")
        add_folder.triggered.connect(self.gallery.add_folder_button.click)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        view_menu = menu.addMenu("&View")
        group = QActionGroup(self)
        self.view_actions: dict[str, QAction] = {}
        for mode, text in (("output", "Output"), ("split", "Before | after"),
                           ("input", "Camera")):
            action = view_menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(mode == self.preview.mode)
            action.triggered.connect(lambda _checked=False, m=mode: self.set_view(m))
            group.addAction(action)
            self.view_actions[mode] = action

        effect_menu = menu.addMenu("&Effect")
        self.effect_action = effect_menu.addAction("Effect on")
        self.effect_action.setCheckable(True)
        self.effect_action.setChecked(True)
        self.effect_action.setShortcut(QKeySequence(SHORTCUT_EFFECT))
        self.effect_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.effect_action.triggered.connect(self.toggle_effect)
        self.next_action = effect_menu.addAction("Next background")
        self.next_action.setShortcut(QKeySequence(SHORTCUT_NEXT))
        self.next_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.next_action.triggered.connect(lambda: self.gallery.step(1))
        self.previous_action = effect_menu.addAction("Previous background")
        self.previous_action.setShortcut(QKeySequence(SHORTCUT_PREVIOUS))
        self.previous_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.previous_action.triggered.connect(lambda: self.gallery.step(-1))
        effect_menu.addSeparator()
        self.vcam_action = effect_menu.addAction("Virtual camera on")
        self.vcam_action.setCheckable(True)
        self.vcam_action.triggered.connect(self.vcam_controls.button.setChecked)
        self.vcam_controls.button.toggled.connect(self.vcam_action.setChecked)

    def _make_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            logger.info("no system tray on this desktop; the panel runs without a tray icon")
            return None
        tray = QSystemTrayIcon(app_icon(), self)
        tray.setToolTip(CAMERA_NAME)
        menu = QMenu(self)
        menu.addAction("Show panel", self._raise)
        menu.addAction(self.effect_action)
        menu.addAction(self.next_action)
        menu.addAction(self.previous_action)
        menu.addAction(self.vcam_action)
        menu.addSeparator()
        menu.addAction("Quit", self.close)
        tray.setContextMenu(menu)
        tray.activated.connect(
            lambda reason: self._raise()
            if reason == QSystemTrayIcon.ActivationReason.Trigger else None)
        tray.show()
        return tray

    def _raise(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # ------------------------------------------------------------------ user actions

    @property
    def settings(self) -> Settings:
        """The user's settings as the panel shows them (what is saved)."""
        return self._settings

    def _user_changed(self, section: str, config) -> None:
        self._settings = dataclasses.replace(self._settings, **{section: config})
        self._schedule_save()
        if self._is_heavy(section, config):
            self._heavy[section] = config
            self._heavy_timer.start()
        else:
            self._heavy.pop(section, None)
            self._send(section, config)

    def _is_heavy(self, section: str, config) -> bool:
        if section == "camera":
            return True
        if section == "harmonise":
            sent = self._sent.get(section)
            pending = section in self._heavy
            return pending or sent is None or any(
                getattr(config, f) != getattr(sent, f) for f in _HEAVY_HARMONISE_FIELDS)
        return False

    def _send_heavy(self) -> None:
        heavy, self._heavy = self._heavy, {}
        for section, config in heavy.items():
            self._send(section, config)

    def _send(self, section: str, config) -> None:
        if section == "camera":
            self.preview.set_placeholder("Opening the camera…")
        self._sent[section] = config
        self.controller.set_section(section, config)

    def flush_pending(self) -> None:
        """Send changes still waiting for the user to stop (tests; closing)."""
        self._heavy_timer.stop()
        self._send_heavy()

    def set_view(self, mode: str) -> None:
        self.preview.set_mode(mode)
        self.view_buttons[mode].setChecked(True)
        self.view_actions[mode].setChecked(True)
        self._schedule_save()

    def toggle_effect(self) -> None:
        self.set_effect(not self.controller.effect)

    def set_effect(self, enabled: bool) -> None:
        """Background and harmonisation on, or the camera picture as it is."""
        self.controller.set_effect(enabled)
        self._show_effect(enabled)
        self.harmoniser_label.setText(
            describe_harmoniser(self.controller.harmonise_info(), enabled))

    def _show_effect(self, enabled: bool) -> None:
        for widget in (self.effect_button, getattr(self, "effect_action", None)):
            if widget is None:
                continue
            blocked = widget.blockSignals(True)
            widget.setChecked(enabled)
            widget.blockSignals(blocked)
        self.effect_button.setText(f"Effect on ({SHORTCUT_EFFECT})" if enabled
                                   else f"Effect off ({SHORTCUT_EFFECT})")

    def notify(self, text: str, banner: bool = False) -> None:
        """Tell the user: in the banner when it must not be missed (whole, until dismissed),
        else in the status bar for a while."""
        logger.info("%s", text)
        if not banner:
            self.statusBar().showMessage(text, 15000)
        else:
            # Several notices may come at once (a corrupt settings file and corrupt
            # preferences): keep them all until the user closes the banner.
            shown = self.banner_label.text() if not self.banner.isHidden() else ""
            self.banner_label.setText(f"{shown}\n{text}" if shown else text)
            self.banner.show()

    # ---------------------------------------------------------- from the controller

    def _on_started(self, info: SourceInfo) -> None:
        what = {DEMO_DEVICE: "Demo source"}.get(info.device, info.device)
        if info.instead_of is not None:
            what += f" (instead of camera {info.instead_of}, which did not open)"
        self.source_label.setText(f"Source: {what} · {info.width}×{info.height} at "
                                  f"{info.fps:.3g} fps")
        self.preview.set_placeholder("Waiting for the first frame…")

    def _on_adjusted(self, section: str, config, message: str) -> None:
        """The controller could not use a setting: show what is used instead, and why."""
        self._settings = dataclasses.replace(self._settings, **{section: config})
        self._sent[section] = config
        self._heavy.pop(section, None)
        control = {"camera": self.camera_controls, "background": self.gallery,
                   "harmonise": self.harmonise_controls, "mask": self.mask_controls}[section]
        control.set_config(config)
        self.notify(message, banner=True)
        self._schedule_save()

    def _on_harmonise_info(self, info: dict) -> None:
        self.harmoniser_label.setText(describe_harmoniser(info, self.controller.effect))

    def _on_virtual_camera(self, state) -> None:
        self.vcam_controls.show_state(state)

    def refresh_status(self) -> None:
        """Rates, latency and stage times; the virtual camera's frame count."""
        self.rates_label.setText(format_rates(self.controller.stats_snapshot()))
        state = self.controller.virtual_camera_state()
        if state.active:
            self.vcam_controls.show_state(state)
        error = self.controller.pipeline_error()
        if error is not None:
            self.rates_label.setText(f"The pipeline stopped: {type(error).__name__}: {error}")

    # ---------------------------------------------------------------------- saving

    def _schedule_save(self) -> None:
        if not self._closed:
            self._save_timer.start()

    def save_now(self) -> None:
        """Write the settings and the panel's preferences now."""
        self._save_timer.stop()
        error = save_settings_quietly(self._settings, self.settings_path)
        self.prefs = PanelPrefs(
            user_paths=self.gallery.user_paths, view=self.preview.mode,
            split=self.preview.split, geometry=bytes(self.saveGeometry().toHex()).decode("ascii"))
        error = save_prefs(self.prefs, self.prefs_path) or error
        if error:
            self.notify(error)

    # --------------------------------------------------------------------- closing

    def shutdown(self) -> None:
        """Save, stop the pipeline (camera, virtual camera) and the helper threads.
        Idempotent; ``closeEvent`` calls it."""
        if self._closed:
            return
        # Changes still waiting to be applied are saved below; applying them now would only
        # make the worker build a pipeline that is stopped at once.
        self._heavy_timer.stop()
        self.save_now()
        self._closed = True
        for timer in (self._status_timer, self._save_timer, self._heavy_timer):
            timer.stop()
        self.preview.stop()
        self.controller.shutdown()
        self.thumbnails.close()
        if self.tray is not None:
            self.tray.hide()
        logger.info("panel closed")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        event.accept()


def _padded(widget: QWidget) -> QWidget:
    """A settings group at the top of its tab, not stretched over the whole height."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.addWidget(widget)
    layout.addStretch(1)
    return page
