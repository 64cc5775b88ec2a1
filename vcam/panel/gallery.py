"""The background gallery: none, blur (with its strength), a solid colour, the bundled
pictures, wallpapers found on the machine, and pictures, videos and folders the user adds
(with the buttons or by dropping them on the gallery)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QPointF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QImage,
    QLinearGradient,
    QPainter,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QColorDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from vcam.config import BackgroundConfig
from vcam.images import BACKGROUND_PATHS
from vcam.panel.thumbnails import THUMB_SIZE, VIDEO_SUFFIXES, ThumbnailLoader, is_video
from vcam.sources import IMAGE_SUFFIXES

logger = logging.getLogger(__name__)

ROLE_KIND = Qt.ItemDataRole.UserRole
ROLE_PATH = Qt.ItemDataRole.UserRole + 1
ROLE_ENTRY = Qt.ItemDataRole.UserRole + 2  # the user's file or folder this item came from

#: A folder the user adds contributes at most this many files.
FOLDER_LIMIT = 200

_BUNDLED_NAMES = {os.path.normcase(str(p)): name for name, p in BACKGROUND_PATHS.items()}


def path_key(path: str | os.PathLike) -> str:
    """One spelling per file, to compare paths from settings, dialogs and drops."""
    return os.path.normcase(os.path.abspath(os.fspath(path)))


def usable_file(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or is_video(path)


def files_in(folder: Path, limit: int = FOLDER_LIMIT) -> list[Path]:
    """Pictures and videos under ``folder`` (recursively, sorted), at most ``limit``."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, onerror=lambda _err: None):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if usable_file(path):
                found.append(path)
                if len(found) >= limit:
                    return found
    return found


def _placeholder_pixmap(kind: str, color: QColor | None = None) -> QPixmap:
    """The icons of the items that are not files: none, blur, colour, and "loading"."""
    w, h = THUMB_SIZE
    pixmap = QPixmap(w, h)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if kind == "color":
        painter.fillRect(0, 0, w, h, color or QColor(0, 120, 80))
    elif kind == "blur":
        gradient = QLinearGradient(0, 0, w, h)
        gradient.setColorAt(0.0, QColor(120, 150, 190))
        gradient.setColorAt(0.5, QColor(200, 190, 160))
        gradient.setColorAt(1.0, QColor(90, 120, 100))
        painter.fillRect(0, 0, w, h, QBrush(gradient))
        painter.setBrush(QColor(60, 60, 70, 200))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(w // 2 - 12, h // 4, 24, 24)
        painter.drawRoundedRect(w // 2 - 22, h // 4 + 26, 44, h, 10, 10)
    elif kind == "none":
        painter.fillRect(0, 0, w, h, QColor(70, 70, 76))
        painter.setPen(QPen(QColor(200, 200, 200), 3))
        painter.drawEllipse(w // 2 - 18, h // 2 - 18, 36, 36)
        painter.drawLine(w // 2 - 13, h // 2 + 13, w // 2 + 13, h // 2 - 13)
    else:  # loading
        painter.fillRect(0, 0, w, h, QColor(50, 50, 56))
    painter.end()
    return pixmap


def _with_play_mark(image: QImage) -> QPixmap:
    """A video's thumbnail with a play triangle, so videos stand out from pictures."""
    pixmap = QPixmap.fromImage(image)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    cx, cy, r = pixmap.width() / 2, pixmap.height() / 2, 14
    painter.setBrush(QColor(0, 0, 0, 140))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(int(cx - r), int(cy - r), 2 * r, 2 * r)
    painter.setBrush(QColor(255, 255, 255, 230))
    painter.drawPolygon(QPolygonF([QPointF(cx - 5, cy - 8), QPointF(cx - 5, cy + 8),
                                   QPointF(cx + 9, cy)]))
    painter.end()
    return pixmap


class _GalleryList(QListWidget):
    """The icon list; files and folders dropped on it are handed to ``dropped``."""

    dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(*THUMB_SIZE))
        self.setGridSize(QSize(THUMB_SIZE[0] + 16, THUMB_SIZE[1] + 30))
        self.setSpacing(4)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setAcceptDrops(True)
        self.setDragDropMode(QListWidget.DragDropMode.DropOnly)

    @staticmethod
    def _local_paths(event) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if self._local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if self._local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = self._local_paths(event)
        if paths:
            event.acceptProposedAction()
            self.dropped.emit(paths)
        else:
            event.ignore()


class BackgroundGallery(QWidget):
    """Picks the background. Holds the background settings (``config``) and says when they
    change.

    Args:
        loader: makes the thumbnails (the window owns and closes it).
        system_paths: pictures found on the machine (``vcam.backgrounds.gallery()``, which
            lists the bundled ones first).

    Signals:
        changed(BackgroundConfig): the user chose another background.
        user_paths_changed(tuple): the files and folders the user added or removed.
        notice(str): something for the status bar (a file that could not be added).
    """

    changed = Signal(object)
    user_paths_changed = Signal(tuple)
    notice = Signal(str)

    def __init__(self, loader: ThumbnailLoader, system_paths: Iterable[Path],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._config = BackgroundConfig()
        self._user_entries: list[str] = []
        self._items_by_path: dict[str, QListWidgetItem] = {}
        self._loading = _placeholder_pixmap("loading")

        self.list = _GalleryList(self)
        self.list.setToolTip("Pick a background; drop pictures, videos or folders here to add "
                             "them. Ctrl+] / Ctrl+[ step through them.")
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemDoubleClicked.connect(self._on_double_click)
        self.list.dropped.connect(self.add_paths)

        self.add_files_button = QPushButton("Add files…")
        self.add_files_button.setToolTip("Add pictures or videos to the gallery")
        self.add_files_button.clicked.connect(self._add_files_dialog)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.clicked.connect(self._add_folder_dialog)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove a file or folder you added")
        self.remove_button.clicked.connect(self.remove_current)
        self.color_button = QPushButton("Colour…")
        self.color_button.setToolTip("Pick the solid colour background")
        self.color_button.clicked.connect(self._color_dialog)

        self.blur_slider = QSlider(Qt.Orientation.Horizontal)
        self.blur_slider.setRange(0, 100)
        self.blur_slider.setValue(round(self._config.blur_strength * 100))
        self.blur_slider.setToolTip("Blur strength (moving it selects the blur background)")
        self.blur_slider.valueChanged.connect(self._on_blur)
        self.blur_value = QLabel()
        self.blur_value.setMinimumWidth(32)

        buttons = QHBoxLayout()
        for button in (self.add_files_button, self.add_folder_button, self.remove_button,
                       self.color_button):
            buttons.addWidget(button)
        blur_row = QHBoxLayout()
        blur_row.addWidget(QLabel("Blur strength"))
        blur_row.addWidget(self.blur_slider, 1)
        blur_row.addWidget(self.blur_value)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(blur_row)
        layout.addLayout(buttons)

        loader.ready.connect(self._on_thumbnail)
        loader.failed.connect(self._on_thumbnail_failed)

        self._none_item = self._add_special("none", "None")
        self._blur_item = self._add_special("blur", "Blur")
        self._color_item = self._add_special("color", "Colour")
        for path in system_paths:
            self._add_file(Path(path), entry=None)
        self._show_blur_value()

    # ----------------------------------------------------------------------------- items

    def _add_special(self, kind: str, label: str) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(_placeholder_pixmap(kind)), label)
        item.setData(ROLE_KIND, kind)
        item.setData(ROLE_PATH, "")
        self.list.addItem(item)
        return item

    def _add_file(self, path: Path, entry: str | None) -> QListWidgetItem | None:
        key = path_key(path)
        existing = self._items_by_path.get(key)
        if existing is not None:
            return existing
        kind = "video" if is_video(path) else "image"
        label = _BUNDLED_NAMES.get(key, path.stem)
        item = QListWidgetItem(QIcon(self._loading), label)
        item.setData(ROLE_KIND, kind)
        item.setData(ROLE_PATH, str(path))
        item.setData(ROLE_ENTRY, entry)
        item.setToolTip(f"{'Video' if kind == 'video' else 'Picture'}: {path}")
        self.list.addItem(item)
        self._items_by_path[key] = item
        self._loader.request(str(path))
        return item

    def _on_thumbnail(self, path: str, image: QImage) -> None:
        item = self._items_by_path.get(path_key(path))
        if item is None:
            return
        pixmap = _with_play_mark(image) if is_video(path) else QPixmap.fromImage(image)
        item.setIcon(QIcon(pixmap))

    def _on_thumbnail_failed(self, path: str, message: str) -> None:
        item = self._items_by_path.get(path_key(path))
        if item is not None:
            item.setToolTip(f"{item.toolTip()}\n(no preview: {message})")

    def _item_for(self, config: BackgroundConfig) -> QListWidgetItem | None:
        if config.kind == "none":
            return self._none_item
        if config.kind == "blur":
            return self._blur_item
        if config.kind == "color":
            return self._color_item
        path = config.path or str(next(iter(BACKGROUND_PATHS.values())))
        item = self._items_by_path.get(path_key(path))
        if item is None and Path(path).is_file():  # chosen on the command line, say
            item = self._add_file(Path(path), None)
        return item

    @property
    def user_paths(self) -> tuple[str, ...]:
        return tuple(self._user_entries)

    def add_paths(self, paths: Iterable[str], choose: bool = True) -> int:
        """Add pictures, videos and folders (recursively) to the gallery; with ``choose``
        the first new file becomes the background. Returns how many files were added."""
        added: list[QListWidgetItem] = []
        skipped: list[str] = []
        for raw in paths:
            path = Path(raw)
            key = path_key(path)
            if path.is_dir():
                files = files_in(path)
                if not files:
                    skipped.append(f"{path} (no pictures or videos)")
                    continue
            elif path.is_file() and usable_file(path):
                files = [path]
            else:
                skipped.append(str(path))
                continue
            if key not in (path_key(e) for e in self._user_entries):
                self._user_entries.append(str(path))
            for file in files:
                before = len(self._items_by_path)
                item = self._add_file(file, entry=str(path))
                if item is not None and len(self._items_by_path) > before:
                    added.append(item)
        if skipped:
            self.notice.emit("Not added (not a picture, video or folder of them): "
                             + ", ".join(skipped))
        if added:
            self.user_paths_changed.emit(self.user_paths)
            if choose:
                self.list.setCurrentItem(added[0])
        return len(added)

    def restore_user_paths(self, paths: Iterable[str]) -> None:
        """Put back what the user added in an earlier session (missing files are skipped)."""
        existing = [p for p in paths if Path(p).exists()]
        self.add_paths(existing, choose=False)

    def remove_current(self) -> None:
        """Remove the file or folder the selected item came from (only ones the user added)."""
        item = self.list.currentItem()
        entry = item.data(ROLE_ENTRY) if item is not None else None
        if not entry:
            self.notice.emit("Only pictures and folders you added can be removed.")
            return
        for row in reversed(range(self.list.count())):
            other = self.list.item(row)
            if other.data(ROLE_ENTRY) == entry:
                self._items_by_path.pop(path_key(other.data(ROLE_PATH)), None)
                self.list.takeItem(row)
        self._user_entries = [e for e in self._user_entries if e != entry]
        self.user_paths_changed.emit(self.user_paths)

    # ---------------------------------------------------------------------------- config

    @property
    def config(self) -> BackgroundConfig:
        return self._config

    def set_config(self, config: BackgroundConfig) -> None:
        """Show ``config`` as the current choice, without emitting ``changed``."""
        self._config = config
        self._update_color_icon()
        blocked = self.list.blockSignals(True)
        self.blur_slider.blockSignals(True)
        try:
            self.blur_slider.setValue(round(config.blur_strength * 100))
            item = self._item_for(config)
            if item is not None:
                self.list.setCurrentItem(item)
                self.list.scrollToItem(item)
        finally:
            self.list.blockSignals(blocked)
            self.blur_slider.blockSignals(False)
        self._show_blur_value()

    def _emit(self, config: BackgroundConfig) -> None:
        if config != self._config:
            self._config = config
            self.changed.emit(config)

    def _on_current(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is None:
            return
        kind = item.data(ROLE_KIND)
        self._emit(dataclasses.replace(self._config, kind=kind, path=item.data(ROLE_PATH) or ""))

    def _on_double_click(self, item: QListWidgetItem) -> None:
        if item is self._color_item:
            self._color_dialog()

    def step(self, delta: int) -> None:
        """Choose the next (``+1``) or previous (``-1``) background, wrapping around."""
        count = self.list.count()
        if count == 0:
            return
        row = self.list.currentRow()
        self.list.setCurrentRow((row + delta) % count if row >= 0 else 0)

    def _on_blur(self, value: int) -> None:
        self._show_blur_value()
        blocked = self.list.blockSignals(True)
        self.list.setCurrentItem(self._blur_item)
        self.list.blockSignals(blocked)
        self._emit(dataclasses.replace(self._config, kind="blur", path="",
                                       blur_strength=value / 100.0))

    def _show_blur_value(self) -> None:
        self.blur_value.setText(f"{self.blur_slider.value()}%")

    def choose_color(self, color: QColor) -> None:
        """Use ``color`` as a solid background (what the colour dialog calls)."""
        if not color.isValid():
            return
        self._config = dataclasses.replace(self._config, color=(color.red(), color.green(),
                                                                 color.blue()))
        self._update_color_icon()
        blocked = self.list.blockSignals(True)
        self.list.setCurrentItem(self._color_item)
        self.list.blockSignals(blocked)
        self._config = dataclasses.replace(self._config, kind="color")  # emitted below
        self.changed.emit(self._config)

    def _update_color_icon(self) -> None:
        self._color_item.setIcon(QIcon(_placeholder_pixmap("color", QColor(*self._config.color))))

    # --------------------------------------------------------------------------- dialogs

    def _color_dialog(self) -> None:
        color = QColorDialog.getColor(QColor(*self._config.color), self, "Background colour")
        self.choose_color(color)

    def _add_files_dialog(self) -> None:
        images = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        videos = " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES))
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add backgrounds", str(Path.home()),
            f"Pictures and videos ({images} {videos});;Pictures ({images});;"
            f"Videos ({videos})")
        if files:
            self.add_paths(files)

    def _add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of backgrounds",
                                                  str(Path.home()))
        if folder:
            self.add_paths([folder])
