"""Every discovered plugin with kind, version, source, status and error; enable/disable."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..engine import registry
from ..engine.settings import load_settings, save_settings

COLUMNS = ("enabled", "name", "kind", "version", "source", "status", "error / notes")
STATUS_COLOURS = {"ok": "#1a7f37", "error": "#C03000", "disabled": "#777777"}


class PluginManager(QDialog):
    """Changes take effect at once (settings file + registry refresh); ``changed`` is
    emitted so the Setup panel can reload its lists."""

    changed = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(980, 420)
        lay = QVBoxLayout(self)
        self.summary = QLabel("")
        lay.addWidget(self.summary)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        head = self.table.horizontalHeader()
        for i in range(len(COLUMNS) - 1):
            head.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._item_changed)
        lay.addWidget(self.table, 1)

        self.paths = QLabel("")
        self.paths.setWordWrap(True)
        self.paths.setStyleSheet("color: #555;")
        lay.addWidget(self.paths)
        row = QHBoxLayout()
        add = QPushButton("Add plugin folder…")
        add.clicked.connect(self._add_folder)
        refresh = QPushButton("Rescan")
        refresh.clicked.connect(self.rescan)
        row.addWidget(add)
        row.addWidget(refresh)
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        row.addWidget(buttons)
        lay.addLayout(row)
        self.populate()

    def populate(self) -> None:
        order = {"error": 0, "disabled": 1}
        records = sorted(registry.plugins(),
                         key=lambda r: (order.get(r.status, 2), r.kind or "~", r.name))
        self.table.blockSignals(True)
        self.table.setRowCount(len(records))
        for r, rec in enumerate(records):
            enabled = QTableWidgetItem()
            enabled.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            enabled.setCheckState(Qt.CheckState.Unchecked if rec.status == "disabled"
                                  else Qt.CheckState.Checked)
            enabled.setData(Qt.ItemDataRole.UserRole, rec.name)
            self.table.setItem(r, 0, enabled)
            values = (rec.name, rec.kind or "-", rec.version, rec.source, rec.status, rec.error)
            for c, text in enumerate(values, start=1):
                item = QTableWidgetItem(str(text))
                item.setToolTip(str(text) if c != 1 else (rec.description or rec.target))
                if c == 5:
                    item.setForeground(QColor(STATUS_COLOURS.get(rec.status, "#333")))
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        counts = {s: sum(r.status == s for r in records) for s in STATUS_COLOURS}
        self.summary.setText(f"{len(records)} plugins: {counts['ok']} ok, "
                             f"{counts['error']} with errors, {counts['disabled']} disabled. "
                             "Untick to disable a plugin by name.")
        folders = [str(p) for p in registry.plugin_paths()]
        self.paths.setText("Plugin folders: " + (", ".join(folders) if folders else
                                                 "none (add one, or set RNNLAB_PLUGIN_PATH)"))

    def set_enabled(self, name: str, enabled: bool) -> None:
        registry.set_disabled(name, not enabled)
        self.populate()
        self.changed.emit()

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        self.set_enabled(name, item.checkState() == Qt.CheckState.Checked)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Plugin folder")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        paths = load_settings()["plugin_paths"]
        if folder not in paths:
            save_settings(plugin_paths=[*paths, folder])
        self.rescan()

    def rescan(self) -> None:
        registry.refresh()
        self.populate()
        self.changed.emit()
