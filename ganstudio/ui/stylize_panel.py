"""Stylize tab: CycleGAN / pix2pix style transfer for one photo (before/after view) or whole folders.

Everything heavy runs in the engine worker (``ganstudio.engines.stylize`` jobs started through
``workers.jobs.JobSlot``); this module never imports torch. Single image: a quick preview at screen size
arrives first, then the full-resolution result; Cancel stops it within about a second. Batch: input folder ->
output folder (same tree) through the shared ``BatchView`` (progress with ETA, Pause / Resume, Cancel,
thumbnails, the report naming every failed or renamed file).

A listed model that is not on this machine is said so as soon as it is picked, next to the model list,
with the button for the next step: Download (with progress) or, for an entry without a download address,
Import… of the file.

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
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.imageio import IMAGE_SUFFIXES
from ganstudio.core.progress import Progress
from ganstudio.ui.settings import Settings
from ganstudio.ui.widgets.batch_view import BatchView
from ganstudio.ui.widgets.folder_field import FolderField
from ganstudio.ui.widgets.image_view import CompareView
from ganstudio.ui.widgets.messages import user_message
from ganstudio.ui.widgets.model_fetch import ModelFetchBar, can_download
from ganstudio.workers.engine_worker import JobHandle
from ganstudio.workers.jobs import JobSlot, shutdown_slots

log = logging.getLogger(__name__)

# the engine functions the worker runs (resolved there: this module never imports torch)
STYLIZE_JOB = "ganstudio.engines.stylize.jobs:stylize_image"
CHECK_JOB = "ganstudio.engines.stylize.jobs:check_model"
SAVE_JOB = "ganstudio.engines.stylize.jobs:save_result"
BATCH_JOB = "ganstudio.engines.stylize.batch:stylize_batch"
THUMB = 128
PREVIEW_SIZE = 768
MISSING_TAG = "  (not downloaded)"


class StylizePanel(QWidget):
    """Panel contract: ``StylizePanel(parent=None)``, ``open_image(path) -> bool``, ``open_folder(path) -> bool``,
    ``open_many(paths) -> str``, ``export()``, ``shutdown()``, ``job_state`` signal."""

    job_state = Signal(str)
    batch_finished = Signal(object)  # the batch's core.batch.BatchReport (None when cancelled / failed)
    image_finished = Signal(object)  # the engine's result dict
    model_checked = Signal(object)  # {"model", "name"} of a usable picked model file
    model_ready = Signal(str)  # a listed model downloaded / imported: its id

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings: Optional[Settings] = Settings()  # None runs on the defaults (device and precision auto)
        self._image_path: Optional[str] = None
        self.result_image: Optional[np.ndarray] = None
        self._entries: dict = {}  # manifest id -> ModelEntry (stylize models and upscalers listed here)
        self._missing: set[str] = set()  # listed ids whose files are not on this machine
        self.single_job = JobSlot(self, "stylize image")  # newest choice replaces the running job
        self.single_job.progress.connect(self._on_single_progress)
        self.single_job.preview.connect(self._on_single_preview)
        self.single_job.finished.connect(self._on_single_finished)
        self.single_job.failed.connect(self._on_single_failed)
        self.single_job.cancelled.connect(self._on_single_cancelled)
        self.single_job.running_changed.connect(self._on_single_running)
        self.check_job = JobSlot(self, "check model file")
        self.check_job.finished.connect(self._on_model_checked)
        self.check_job.failed.connect(self._on_model_check_failed)
        self.export_job = JobSlot(self, "export", policy="exclusive")
        self.export_job.finished.connect(self._on_exported)
        self.export_job.failed.connect(self._on_export_failed)
        self._build()
        self._fill_models()
        self._update_model_note()

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:"))
        self.model_combo = QComboBox(self)
        self.model_combo.setMinimumContentsLength(28)
        self.model_combo.setToolTip("Official CycleGAN / pix2pix models (a model not on this machine can be "
                                    "downloaded with the button that appears beside this list) or your own "
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
        # next to the picker: a picked model that is not on this machine, with Download / Import…
        self.fetch_bar = ModelFetchBar(self, task="stylize")
        self.fetch_bar.fetched.connect(self._on_fetched)
        root.addWidget(self.fetch_bar)
        # a changed choice re-renders the open photo (the newest request replaces the running one)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.direction_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.official_check.toggled.connect(self._on_choice_changed)

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
        self.stop_btn = QPushButton("Cancel", self)
        self.stop_btn.setToolTip("Stop stylizing this photo")
        self.stop_btn.setEnabled(False)
        self.stop_btn.clicked.connect(self.cancel_single)
        self.export_btn = QPushButton("Export…", self)
        self.export_btn.setEnabled(False)
        self.export_btn.clicked.connect(self._export_clicked)
        self.single_status = QLabel("Open a photo to stylize it.", self)
        self.single_status.setWordWrap(True)  # errors name the model's next step: wrap, never clip
        for w in (self.open_btn, self.run_btn, self.stop_btn, self.export_btn):
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
        out_row = FolderField("Output folder (same tree as the input; may be inside it)", "Output folder", self)
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
        self.batch_view = BatchView(self, name="stylize batch", label="Stylize batch", thumb_size=THUMB)
        self.batch_view.start_requested.connect(self.start_batch)
        self.batch_view.finished.connect(self._on_batch_finished)
        self.batch_view.state_changed.connect(self._on_batch_state)
        self.batch_view.open_requested.connect(self.open_image)
        bl.addWidget(self.batch_view, 1)
        split.addWidget(batch)
        # the before/after view is the main thing; the batch part only needs room for its thumbnails
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 260])

    def _fill_models(self) -> None:
        """(Re)list the manifest's stylize models and upscalers (a quick JSON read + file checks), after the
        files the user added; both choices stay (a re-list re-renders only if the current model is gone)."""
        try:
            from ganstudio.core.manifest import entry_path, load_manifest

            entries = load_manifest()
        except Exception as exc:  # a broken manifest must not break the tab
            log.warning("could not read the model manifest: %s", exc)
            entries = []
        current, then_upscale = self.model_combo.currentData(), self.upscale_combo.currentData()
        files = [(self.model_combo.itemText(i), self.model_combo.itemData(i)) for i in range(self.model_combo.count())
                 if self.model_combo.itemData(i) is not None and self.model_combo.itemData(i) not in self._entries]
        self._entries, self._missing = {}, set()
        listed, upscalers = [], []
        for e in entries:
            if e.task == "upscale":
                upscalers.append(e.id)
            if e.task != "stylize" and e.arch != "cyclegan":
                continue
            self._entries[e.id] = e
            present = entry_path(e) is not None or bool((e.extra or {}).get("files"))
            if not present:
                self._missing.add(e.id)
            listed.append((not present, e.id, e.description))
        for combo in (self.model_combo, self.upscale_combo):
            combo.blockSignals(True)
        self.upscale_combo.clear()
        self.upscale_combo.addItem("No", None)
        for uid in upscalers:
            self.upscale_combo.addItem(uid, uid)
        self.upscale_combo.setCurrentIndex(max(0, self.upscale_combo.findData(then_upscale)))
        self.model_combo.clear()
        for text, path in files:
            self.model_combo.addItem(text, path)
        if not files and not any(not missing for missing, _i, _d in listed):
            # nothing usable yet: do not preselect a model that is not there (opening a photo would just fail)
            self.model_combo.addItem("(no model yet: Model file…, or pick one to download)", None)
        for missing, mid, desc in sorted(listed):
            self.model_combo.addItem(mid + (MISSING_TAG if missing else ""), mid)
            self.model_combo.setItemData(self.model_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(current)) if current is not None else 0)
        for combo in (self.model_combo, self.upscale_combo):
            combo.blockSignals(False)
        if self.model_combo.currentData() != current:
            self._on_model_changed(self.model_combo.currentIndex())

    def refresh_models(self) -> None:
        """Re-read the manifest and the user's library: models added meanwhile are listed."""
        self._fill_models()

    def select_model(self, model_id: str) -> bool:
        """Select a manifest / library model by id, re-reading the list first (a model added meanwhile, e.g.
        by the Train tab's "Use in Stylize", is found), as picking it in the list would (the open photo is
        re-rendered with it). False when no stylize model has that id (or its file is not on this machine:
        the tab says so beside the list)."""
        self._fill_models()
        idx = self.model_combo.findData(model_id)
        if idx < 0:
            return False
        if idx != self.model_combo.currentIndex():
            self.model_combo.setCurrentIndex(idx)  # re-renders the open photo with it
        return model_id not in self._missing

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

    def model_missing(self) -> bool:
        """True when the picked model is listed but not on this machine."""
        return self.current_model() in self._missing

    @Slot(int)
    def _on_model_changed(self, _index: int) -> None:
        self._update_model_note()
        self.restyle()

    @Slot()
    def _on_choice_changed(self) -> None:
        self.restyle()

    def _update_model_note(self) -> None:
        """Say next to the picker when the picked model is not on this machine, with the next step."""
        mid = self.current_model()
        if mid in self._missing and mid in self._entries:
            self.fetch_bar.show_entry(self._entries[mid])
        else:
            self.fetch_bar.clear()

    def _missing_message(self) -> str:
        entry = self._entries.get(self.current_model())
        step = "Download" if entry is not None and can_download(entry) else "Import…"
        return f"{self.current_model()} is not on this machine yet: press {step} next to the model list."

    @Slot(str)
    def _on_fetched(self, model_id: str) -> None:
        """A listed model was downloaded, or a file imported as a new library entry: list it as present
        and use it."""
        self._missing.discard(model_id)
        self.model_combo.blockSignals(True)
        idx = self.model_combo.findData(model_id)
        if idx < 0:  # an imported file: a new library entry
            self.model_combo.insertItem(0, model_id, model_id)
        else:
            self.model_combo.setItemText(idx, model_id)
        placeholder = self.model_combo.findData(None)
        if placeholder >= 0:
            self.model_combo.removeItem(placeholder)
        self.model_combo.blockSignals(False)
        self.model_ready.emit(model_id)
        idx = self.model_combo.findData(model_id)
        if self.model_combo.currentIndex() != idx:
            self.model_combo.setCurrentIndex(idx)  # re-renders the open photo with it
        else:
            self._update_model_note()
            self.restyle()

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
        kw = {"model": str(path), "direction": self.direction_combo.currentData(),
              "device": self._runtime()["device"]}
        self.check_job.start(CHECK_JOB, kw)

    @Slot(object)
    def _on_model_checked(self, info: dict) -> None:
        if not self._image_path:
            self.single_status.setText(f"{info['name']} is ready. Open a photo to stylize it.")
        self.model_checked.emit(info)

    @Slot(object)
    def _on_model_check_failed(self, exc) -> None:
        self.single_status.setText(f"This model file cannot be used: {user_message(exc)}")

    def _runtime(self) -> dict:
        s = self.settings
        return {"device": s.device if s is not None else "auto",
                "precision": s.precision if s is not None else "auto"}

    def _job_common(self) -> dict:
        return {"model": self.current_model(), "direction": self.direction_combo.currentData(),
                "official": self.official_check.isChecked(), **self._runtime()}

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
        """(Re)run the single image with the current model / direction / official choice; the newest
        request replaces a running one (whose late results are dropped)."""
        if not self._image_path:
            return
        if self.current_model() is None:
            self.single_status.setText("Choose a model first (Model file…, or pick one and download it).")
            return
        if self.model_missing():
            self.single_job.forget()
            self.single_status.setText(self._missing_message())
            return
        kw = self._job_common()
        kw.update(input_path=self._image_path, preview_size=PREVIEW_SIZE)
        self.result_image = None
        self.export_btn.setEnabled(False)
        self.single_status.setText(f"Stylizing {Path(self._image_path).name}…")
        self.single_job.start(STYLIZE_JOB, kw)

    @Slot()
    def cancel_single(self) -> None:
        if self.single_job.cancel():
            self.single_status.setText("Cancelling…")
            self.stop_btn.setEnabled(False)

    @Slot(object)
    def _on_single_progress(self, p: Progress) -> None:
        inp = p.extra.get("input") if p.extra else None
        if inp is not None:
            self.view.set_images(inp, inp)
            self.view.fit()
        if not self.single_job.cancelling:  # "Cancelling…" stays until the job has stopped
            self.single_status.setText(p.message)

    @Slot(QImage)
    def _on_single_preview(self, img: QImage) -> None:
        self.view.set_after(img)

    @Slot(object)
    def _on_single_finished(self, res: dict) -> None:
        self.result_image = res["image"]
        self.view.set_after(res["image"])
        w, h = res["size"]
        self.single_status.setText(f"{res['model']} ({res['direction']}): {w}×{h}")
        self.export_btn.setEnabled(True)
        self.image_finished.emit(res)

    @Slot(object)
    def _on_single_failed(self, exc) -> None:
        self.single_status.setText(f"Failed: {user_message(exc)}")

    @Slot()
    def _on_single_cancelled(self) -> None:
        self.single_status.setText("Cancelled.")

    @Slot(bool)
    def _on_single_running(self, running: bool) -> None:
        self.stop_btn.setEnabled(running)
        self._update_state()

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
        return self.export_job.start(SAVE_JOB, {"image": self.result_image, "path": path})

    @Slot()
    def _export_clicked(self) -> None:
        self.export()

    @Slot(object)
    def _on_exported(self, path) -> None:
        self.single_status.setText(f"Saved {path}")

    @Slot(object)
    def _on_export_failed(self, exc) -> None:
        self.single_status.setText(f"Export failed: {user_message(exc)}")

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
        if self.batch_view.is_running():
            return False
        src, dst = self.in_edit.text().strip(), self.out_edit.text().strip()
        if not src or not dst or self.current_model() is None:
            self.batch_view.show_message("Choose a model, an input folder and an output folder.")
            return False
        if self.model_missing():
            self.batch_view.show_message(self._missing_message())
            return False
        kw = self._job_common()
        kw.update(inputs=[src], output=dst, recursive=self.recursive_check.isChecked(),
                  pattern=self.pattern_edit.text() or "{stem}_{model}", fmt=self.format_combo.currentData(),
                  then_upscale=self.upscale_combo.currentData(), thumb_size=THUMB)
        return self.batch_view.start(BATCH_JOB, kw)

    def cancel_batch(self) -> None:
        self.batch_view.cancel()

    @property
    def last_report(self):
        return self.batch_view.last_report

    @property
    def failures(self) -> list[str]:
        return self.batch_view.failures

    @Slot(object)
    def _on_batch_finished(self, report) -> None:
        self.batch_finished.emit(report)

    @Slot(str)
    def _on_batch_state(self, _text: str) -> None:
        self._update_state()

    def _update_state(self) -> None:
        batch = self.batch_view.state_text()
        if batch:
            self.job_state.emit(batch)
        elif self.single_job.is_running():
            self.job_state.emit("Stylizing image…")
        else:
            self.job_state.emit("")

    def is_busy(self) -> bool:
        return any(s.is_running() for s in self.findChildren(JobSlot))

    # ---------------------------------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Cancel and join this panel's jobs (called on window close)."""
        self.batch_view.shutdown()  # says "Cancelled" and emits its end, which the slots would drop
        shutdown_slots(self)
        self._update_state()


def _host(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).hostname or url
