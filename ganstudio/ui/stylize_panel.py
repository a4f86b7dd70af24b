"""Stylize tab: CycleGAN / pix2pix style transfer for one photo (before/after view) or whole folders.

Everything heavy runs in the engine worker (``ganstudio.engines.stylize`` through EngineJob strings); this
module never imports torch. Single image: a quick preview at screen size arrives first, then the full
resolution result. Batch: input folder -> output folder (same tree), thumbnails fill the grid as results
arrive, pause / resume / cancel, ETA, and a report naming every file that failed.

Dropping several things (on the window while this tab is current), see ``open_many``: the first image file
is stylized in the before/after view, the first folder becomes the batch input (nothing starts by itself:
press Start batch), and the status line says how many other dropped items were not opened. To stylize many
files, drop their folder and run a batch.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.imageio import IMAGE_SUFFIXES
from ganstudio.core.progress import Progress, format_eta
from ganstudio.workers.engine_worker import EngineJob, JobHandle, array_to_qimage, start_job

from ganstudio.ui.settings import Settings
from ganstudio.ui.widgets.folder_field import FolderField
from ganstudio.ui.widgets.image_view import CompareView
from ganstudio.ui.widgets.messages import user_message

log = logging.getLogger(__name__)

ENGINE = "ganstudio.engines.stylize"
THUMB = 128
PREVIEW_SIZE = 768


class StylizePanel(QWidget):
    """Panel contract: ``StylizePanel(parent=None)``, ``open_image(path) -> bool``, ``open_folder(path) -> bool``,
    ``open_many(paths) -> str``, ``export()``, ``shutdown()``, ``job_state`` signal."""

    job_state = Signal(str)
    batch_finished = Signal(object)  # the engine's BatchReport (or None when cancelled / failed)
    image_finished = Signal(object)  # the engine's result dict
    model_checked = Signal(object)  # {"model", "name"} of a usable picked model file

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings: Optional[Settings] = Settings()  # None runs on the defaults (auto device, fp32)
        self._single: Optional[JobHandle] = None
        self._pending_single: Optional[str] = None
        self._batch: Optional[JobHandle] = None
        self._check: Optional[JobHandle] = None  # a picked model file being checked
        self._image_path: Optional[str] = None
        self.result_image: Optional[np.ndarray] = None
        self.failures: list[str] = []
        self.last_report = None
        self._build()
        self._fill_models()

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:"))
        self.model_combo = QComboBox(self)
        self.model_combo.setMinimumContentsLength(28)
        self.model_combo.setToolTip("Official CycleGAN / pix2pix models (download them in Models) or your own "
                                    "generator files")
        top.addWidget(self.model_combo, 1)
        self.browse_model_btn = QPushButton("Model file…", self)
        self.browse_model_btn.clicked.connect(self._browse_model)
        top.addWidget(self.browse_model_btn)
        top.addWidget(QLabel("Direction:"))
        self.direction_combo = QComboBox(self)
        self.direction_combo.addItem("A → B", "AtoB")
        self.direction_combo.addItem("B → A", "BtoA")
        top.addWidget(self.direction_combo)
        self.official_check = QCheckBox("Official (256×256 like test.py)", self)
        self.official_check.setToolTip("Resize to 256×256 with bicubic like the official test script, "
                                       "instead of running at the photo's own resolution")
        top.addWidget(self.official_check)
        root.addLayout(top)
        # a changed choice re-renders the open photo (newest request wins, see restyle)
        self.model_combo.currentIndexChanged.connect(lambda _i: self.restyle())
        self.direction_combo.currentIndexChanged.connect(lambda _i: self.restyle())
        self.official_check.toggled.connect(lambda _b: self.restyle())

        split = QSplitter(Qt.Orientation.Vertical, self)
        root.addWidget(split, 1)

        # single image
        single = QGroupBox("Single image", self)
        sl = QVBoxLayout(single)
        row = QHBoxLayout()
        self.open_btn = QPushButton("Open image…", self)
        self.open_btn.clicked.connect(self._browse_image)
        self.run_btn = QPushButton("Stylize", self)
        self.run_btn.setToolTip("Run the model on the open photo again (changing the model or direction does it too)")
        self.run_btn.setEnabled(False)  # until a photo is open
        self.run_btn.clicked.connect(self.restyle)
        self.export_btn = QPushButton("Export…", self)
        self.export_btn.setEnabled(False)
        self.export_btn.clicked.connect(lambda: self.export())
        self.single_status = QLabel("Open a photo to stylize it.", self)
        self.single_status.setWordWrap(True)  # errors name the download address: wrap, never clip
        for w in (self.open_btn, self.run_btn, self.export_btn):
            row.addWidget(w)
        row.addWidget(self.single_status, 1)
        sl.addLayout(row)
        # what a multi-file drop did (the status above is overwritten by progress messages)
        self.drop_note = QLabel("", self)
        self.drop_note.setWordWrap(True)
        self.drop_note.setVisible(False)
        sl.addWidget(self.drop_note)
        self.view = CompareView(single)
        self.view.set_placeholder("Open a photo (Open image…) or drop it on the window: the original shows "
                                  "left of the split line, the stylized result right of it (drag the line).")
        self.view.setMinimumHeight(200)
        sl.addWidget(self.view, 1)
        split.addWidget(single)

        # batch
        batch = QGroupBox("Batch folder", self)
        bl = QVBoxLayout(batch)
        form = QFormLayout()
        in_row = FolderField("Input folder (read only, never written to)", "Input folder", self)
        in_row.chosen.connect(self.open_folder)
        out_row = FolderField("Output folder (same tree as the input)", "Output folder", self)
        self.in_edit, self.out_edit = in_row.edit, out_row.edit
        form.addRow("Input:", in_row)
        form.addRow("Output:", out_row)
        opts = QHBoxLayout()
        self.recursive_check = QCheckBox("Include sub-folders", self)
        self.recursive_check.setChecked(True)
        opts.addWidget(self.recursive_check)
        opts.addWidget(QLabel("Name:"))
        self.pattern_edit = QLineEdit("{stem}_{model}", self)
        self.pattern_edit.setToolTip("Output name without suffix: {stem} {model} {direction} {ext}")
        opts.addWidget(self.pattern_edit)
        opts.addWidget(QLabel("Format:"))
        self.format_combo = QComboBox(self)
        for f in ("png", "jpg", "webp", "tif", "same"):
            self.format_combo.addItem(f, f)
        opts.addWidget(self.format_combo)
        opts.addWidget(QLabel("Then upscale:"))
        self.upscale_combo = QComboBox(self)
        self.upscale_combo.addItem("No", None)
        opts.addWidget(self.upscale_combo)
        form.addRow("Options:", opts)
        bl.addLayout(form)
        ctl = QHBoxLayout()
        self.start_btn = QPushButton("Start batch", self)
        self.start_btn.clicked.connect(self.start_batch)
        self.pause_btn = QPushButton("Pause", self)
        self.pause_btn.setCheckable(True)
        self.pause_btn.setEnabled(False)
        self.pause_btn.toggled.connect(self._toggle_pause)
        self.cancel_btn = QPushButton("Cancel", self)
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel_batch)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)  # an empty bar before any batch looks like a text field
        self.eta_label = QLabel("", self)
        for w in (self.start_btn, self.pause_btn, self.cancel_btn):
            ctl.addWidget(w)
        ctl.addWidget(self.progress, 1)
        ctl.addStretch(0)
        ctl.addWidget(self.eta_label)
        bl.addLayout(ctl)
        self.grid = QListWidget(self)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setWordWrap(True)
        self.grid.setToolTip("Results appear here as the batch writes them (hover for the file)")
        self.report_box = QPlainTextEdit(self)
        self.report_box.setReadOnly(True)
        self.report_box.setPlaceholderText("The batch report: files that could not be processed are listed here.")
        # beside the thumbnails rather than under them: the before/after view above keeps the height
        results = QHBoxLayout()
        results.addWidget(self.grid, 3)
        results.addWidget(self.report_box, 1)
        bl.addLayout(results, 1)
        split.addWidget(batch)
        # the before/after view is the main thing; the batch part only needs room for its thumbnails
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 260])

    def _fill_models(self) -> None:
        """Manifest entries (a quick JSON read + file checks); the user's own files are added later."""
        try:
            from ganstudio.core.manifest import entry_path, load_manifest

            entries = load_manifest()
        except Exception as exc:  # a broken manifest must not break the tab
            log.warning("could not read the model manifest: %s", exc)
            entries = []
        present_first = []
        for e in entries:
            if e.task == "upscale":
                self.upscale_combo.addItem(e.id, e.id)
            if e.task != "stylize" and e.arch != "cyclegan":
                continue
            present = entry_path(e) is not None or bool((e.extra or {}).get("files"))
            present_first.append((not present, e.id, e.description))
        if not any(not missing for missing, _i, _d in present_first):
            # nothing usable yet: do not preselect a model that is not there (opening a photo would just fail)
            self.model_combo.addItem("(no model yet: Model file… or Models > Model manager)", None)
        for missing, mid, desc in sorted(present_first):
            self.model_combo.addItem(mid + ("  (not downloaded)" if missing else ""), mid)
            self.model_combo.setItemData(self.model_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)

    # ------------------------------------------------------------------------------------------ models
    def add_model_path(self, path: str) -> None:
        """Add a user generator file (or training folder) and select it."""
        path = str(path)
        idx = self.model_combo.findData(path)
        if idx < 0:
            # inserting above the current item shifts its index: that is no new choice, so no re-render
            self.model_combo.blockSignals(True)
            self.model_combo.insertItem(0, Path(path).name, path)
            self.model_combo.blockSignals(False)
            idx = 0
        self.model_combo.setCurrentIndex(idx)

    def current_model(self) -> Optional[str]:
        return self.model_combo.currentData()

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CycleGAN / pix2pix generator", "",
                                              "Generators (*.pth *.pt *.safetensors);;All files (*)")
        if path:
            self.add_model_path(path)
            if not self._image_path:  # with a photo open the re-render reports a bad file; else check it now
                self.check_model(path)

    def check_model(self, path: str) -> None:
        """Load a picked generator file in the worker so a wrong or broken file is reported at once
        (``model_checked`` signal with {"model", "name"} when it is usable)."""
        if self._check is not None:
            return
        s = self.settings
        kw = {"model": str(path), "direction": self.direction_combo.currentData(),
              "device": s.device if s is not None else "auto"}
        handle = start_job(EngineJob(f"{ENGINE}:check_model", kw, name="check model file"))
        self._check = handle
        handle.worker.finished.connect(self._on_model_checked)
        handle.worker.failed.connect(self._on_model_check_failed)
        handle.thread.finished.connect(self._on_check_thread_done)

    @Slot(object)
    def _on_model_checked(self, info: dict) -> None:
        if not self._image_path:
            self.single_status.setText(f"{info['name']} is ready. Open a photo to stylize it.")
        self.model_checked.emit(info)

    @Slot(str, str)
    def _on_model_check_failed(self, msg: str, _tb: str) -> None:
        self.single_status.setText(f"This model file cannot be used: {user_message(msg)}")

    @Slot()
    def _on_check_thread_done(self) -> None:
        self._check = None

    def _job_common(self) -> dict:
        s = self.settings
        kw = {"model": self.current_model(), "direction": self.direction_combo.currentData(),
              "official": self.official_check.isChecked(),
              "device": s.device if s is not None else "auto"}
        if s is not None and s.precision != "fp32":
            kw["precision"] = s.precision
        return kw

    # ------------------------------------------------------------------------------------ single image
    def open_image(self, path: str) -> bool:
        if not Path(path).is_file() or Path(path).suffix.lower() not in IMAGE_SUFFIXES:
            return False
        self._image_path = str(path)
        self.drop_note.setVisible(False)
        self.run_btn.setEnabled(True)
        self.restyle()
        return True

    def _browse_image(self) -> None:
        start = self.settings.last_dir("open") if self.settings is not None else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", start,
                                              "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)")
        if path:
            self.open_image(path)

    @Slot()
    def restyle(self) -> None:
        """(Re)run the single image with the current model / direction / official choice; newest wins."""
        if not self._image_path:
            return
        if self.current_model() is None:
            self.single_status.setText("Choose a model first (Model file… or download one in Models).")
            return
        # not is_running(): a job starts on the next event-loop turn, and two would then run side by side
        if self._single is not None:
            self._pending_single = self._image_path
            self._single.cancel()
            return
        self._start_single()

    def _start_single(self) -> None:
        kw = self._job_common()
        kw.update(input_path=self._image_path, preview_size=PREVIEW_SIZE)
        job = EngineJob(f"{ENGINE}:stylize_image", kw, name="stylize image")
        self.result_image = None
        self.export_btn.setEnabled(False)
        self.single_status.setText(f"Stylizing {Path(self._image_path).name}…")
        self.job_state.emit("Stylizing image…")
        handle = start_job(job)
        self._single = handle
        handle.worker.progress.connect(self._on_single_progress)
        handle.worker.preview.connect(self._on_single_preview)
        handle.worker.finished.connect(self._on_single_finished)
        handle.worker.failed.connect(self._on_single_failed)
        handle.thread.finished.connect(self._on_single_thread_done)

    @Slot(object)
    def _on_single_progress(self, p: Progress) -> None:
        if self._stale():
            return
        inp = p.extra.get("input") if p.extra else None
        if inp is not None:
            self.view.set_images(inp, inp)
            self.view.fit()
        self.single_status.setText(p.message)

    @Slot(QImage)
    def _on_single_preview(self, img: QImage) -> None:
        if self._stale():
            return
        self.view.set_after(img)

    def _stale(self) -> bool:
        """True in a slot called by a single-image job that a newer choice (model, direction, photo) is
        replacing: its result may arrive before the cancel lands and must not show as the new choice's."""
        return (self._single is None or self.sender() is not self._single.worker
                or self._pending_single is not None)

    @Slot(object)
    def _on_single_finished(self, res: dict) -> None:
        if self._stale():
            return
        self.result_image = res["image"]
        self.view.set_after(res["image"])
        w, h = res["size"]
        self.single_status.setText(f"{res['model']} ({res['direction']}): {w}×{h}")
        self.export_btn.setEnabled(True)
        self.image_finished.emit(res)

    @Slot(str, str)
    def _on_single_failed(self, msg: str, _tb: str) -> None:
        if self._stale():
            return
        self.single_status.setText(f"Failed: {user_message(msg)}")

    @Slot()
    def _on_single_thread_done(self) -> None:
        if self._single is not None and self.sender() is not self._single.thread \
                and not self._single.thread.isFinished():
            return  # an earlier job's thread: the current one is still running
        self._single = None
        self._update_state()
        if self._pending_single:
            self._pending_single = None
            self._start_single()

    def export(self, path: Optional[str] = None) -> Optional[JobHandle]:
        """Save the full-resolution result (File > Export…). Writing runs in the worker."""
        if self.result_image is None:
            self.single_status.setText("Nothing to export yet.")
            return None
        if path is None:
            stem = Path(self._image_path or "stylized").stem
            start = str(Path(self.settings.last_dir("export") if self.settings else "") / f"{stem}_stylized.png")
            path, _ = QFileDialog.getSaveFileName(self, "Export stylized image", start,
                                                  "PNG (*.png);;JPEG (*.jpg);;WebP (*.webp);;TIFF (*.tif)")
            if not path:
                return None
        handle = start_job(EngineJob(f"{ENGINE}:save_result", {"image": self.result_image, "path": path},
                                     name="export"))
        handle.worker.finished.connect(lambda p: self.single_status.setText(f"Saved {p}"))
        handle.worker.failed.connect(lambda m, _t: self.single_status.setText(f"Export failed: {user_message(m)}"))
        return handle

    # ------------------------------------------------------------------------------------------- batch
    def open_folder(self, path: str) -> bool:
        if not Path(path).is_dir():
            return False
        self.in_edit.setText(str(path))
        if not self.out_edit.text():
            self.out_edit.setText(str(Path(path).parent / f"{Path(path).name}_stylized"))
        return True

    def open_many(self, paths) -> str:
        """Several dropped / given paths: stylize the first image file, put the first folder in the batch
        input (nothing starts by itself) and say what happened to the rest. Returns that message ("" when
        nothing could be used)."""
        paths = [str(p) for p in paths if str(p)]
        image = next((p for p in paths if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES), None)
        folder = next((p for p in paths if Path(p).is_dir()), None)
        opened_image = image is not None and self.open_image(image)
        opened_folder = folder is not None and self.open_folder(folder)
        n_used = int(bool(opened_image)) + int(bool(opened_folder))
        if not n_used:
            self.single_status.setText("Nothing to open: drop an image file or a folder of images.")
            return ""
        parts = []
        if opened_image:
            parts.append(f"Stylizing {Path(image).name}")
        if opened_folder:
            parts.append(f"batch input set to {Path(folder).name} (press Start batch)")
        rest = len(paths) - n_used
        msg = "; ".join(parts) + "."
        if rest:
            msg += (f" {rest} other dropped item{'s' if rest != 1 else ''} not opened: the view shows one "
                    "image at a time; to stylize many files, drop their folder and use Start batch.")
        msg = msg[0].upper() + msg[1:]
        self.drop_note.setText(msg)
        self.drop_note.setVisible(True)
        return msg

    @Slot()
    def start_batch(self) -> bool:
        if self._batch is not None and not self._batch.thread.isFinished():
            return False
        src, dst = self.in_edit.text().strip(), self.out_edit.text().strip()
        if not src or not dst or self.current_model() is None:
            self.report_box.setPlainText("Choose a model, an input folder and an output folder.")
            return False
        kw = self._job_common()
        kw.update(input_dir=src, output_dir=dst, recursive=self.recursive_check.isChecked(),
                  pattern=self.pattern_edit.text() or "{stem}_{model}", fmt=self.format_combo.currentData(),
                  then_upscale=self.upscale_combo.currentData(), thumb_size=THUMB)
        self.grid.clear()
        self.failures = []
        self.last_report = None
        self.report_box.clear()
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.eta_label.setText("")
        handle = start_job(EngineJob(f"{ENGINE}:stylize_folder", kw, name="stylize batch"))
        self._batch = handle
        handle.worker.progress.connect(self._on_batch_progress)
        handle.worker.finished.connect(self._on_batch_finished)
        handle.worker.failed.connect(self._on_batch_failed)
        handle.worker.cancelled.connect(self._on_batch_cancelled)
        handle.thread.finished.connect(self._on_batch_thread_done)
        self._update_state()
        return True

    @Slot(bool)
    def _toggle_pause(self, paused: bool) -> None:
        if self._batch is None:
            return
        if paused:
            self._batch.pause()
            self.pause_btn.setText("Resume")
            self.eta_label.setText("paused")
        else:
            self._batch.resume()
            self.pause_btn.setText("Pause")
        self._update_state()

    @Slot()
    def cancel_batch(self) -> None:
        if self._batch is not None:
            self._batch.cancel()

    @Slot(object)
    def _on_batch_progress(self, p: Progress) -> None:
        self.progress.setMaximum(max(1, int(p.total)))
        self.progress.setValue(int(p.done))
        extra = p.extra or {}
        eta = extra.get("eta_s")
        if eta is not None and not self.pause_btn.isChecked():
            self.eta_label.setText(f"ETA {format_eta(eta)}")
        out, thumb = extra.get("output"), extra.get("thumb")
        if out and thumb is not None:
            item = QListWidgetItem(QIcon(QPixmap.fromImage(array_to_qimage(thumb))),
                                   Path(out).name)
            item.setToolTip(out)
            item.setData(Qt.ItemDataRole.UserRole, out)
            self.grid.addItem(item)
        self.job_state.emit(f"Stylize batch: {int(p.done)}/{int(p.total)}")

    @Slot(object)
    def _on_batch_finished(self, report) -> None:
        self.last_report = report
        self.failures = [f"{p}: {r}" for p, r in report.failed]
        self.report_box.setPlainText(report.summary())
        self.eta_label.setText("done")
        self.batch_finished.emit(report)

    @Slot(str, str)
    def _on_batch_failed(self, msg: str, _tb: str) -> None:
        self.report_box.setPlainText(f"The batch stopped: {user_message(msg)}")
        self.batch_finished.emit(None)

    @Slot()
    def _on_batch_cancelled(self) -> None:
        self.report_box.setPlainText("Cancelled. Start again to finish: files already done are skipped.")
        self.eta_label.setText("cancelled")
        self.batch_finished.emit(None)

    @Slot()
    def _on_batch_thread_done(self) -> None:
        if self._batch is not None and self.sender() is not self._batch.thread and not self._batch.thread.isFinished():
            return  # an earlier batch's thread (a new one was started before its signal arrived)
        self._batch = None
        self.pause_btn.blockSignals(True)
        self.pause_btn.setChecked(False)
        self.pause_btn.setText("Pause")
        self.pause_btn.blockSignals(False)
        self._update_state()

    def _update_state(self) -> None:
        running = self._batch is not None
        self.start_btn.setEnabled(not running)
        self.pause_btn.setEnabled(running)
        self.cancel_btn.setEnabled(running)
        if running:
            self.job_state.emit("Stylize batch paused" if self.pause_btn.isChecked() else "Stylize batch running")
        elif self._single is not None:
            self.job_state.emit("Stylizing image…")
        else:
            self.job_state.emit("")

    def is_busy(self) -> bool:
        return self._batch is not None or self._single is not None or self._check is not None

    # ---------------------------------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Cancel and join this panel's jobs (called on window close)."""
        self._pending_single = None
        for h in (self._single, self._batch, self._check):
            if h is not None:
                h.cancel()
        for h in (self._single, self._batch, self._check):
            if h is not None:
                h.wait()
        # joined: idle now, whether or not the threads' finished signals have reached us yet
        for name in ("_single", "_batch", "_check"):
            h = getattr(self, name)
            if h is not None and h.thread.isFinished():
                setattr(self, name, None)
        self._update_state()
