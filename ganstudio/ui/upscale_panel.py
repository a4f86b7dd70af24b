"""The Upscale tab: Real-ESRGAN super-resolution of one image (before/after view) or a whole folder.

Everything heavy (decoding, the network, encoding) runs in the engine worker: each kind of job has its
``workers.jobs.JobSlot`` (open, upscale, save, check a model file) naming ``ganstudio.engines.upscale``
functions, and the batch runs in the shared ``ui.widgets.batch_view.BatchView`` (progress with ETA,
Pause / Resume, Cancel, thumbnails, the report). This module never imports torch. The panel keeps the
``ImageData`` it gets back (plain numpy + metadata) so Save writes the full result with its bit depth,
alpha, ICC profile and EXIF.

Progress and cancel: the engine reports from inside a tile (one tile of a photo can take a minute on a
CPU) with an ETA; Cancel says "Cancelling…" at once (later reports no longer replace it) and "Cancelled."
once the job has stopped, which the engine does within one network block. A large image first says what it
will take (memory, time): that line stays above the progress until the job ends.

Panel contract (main_window): ``UpscalePanel(parent=None)``, ``open_image(path) -> bool``,
``open_folder(path) -> bool``, ``open_many(paths) -> str``, ``export()``, ``shutdown()``, ``job_state`` signal.

Dropping several things (on the tab or the window), see ``open_many``: the first image file opens in the
before/after view, the first folder becomes the batch input (nothing starts by itself: press Start batch),
and the status line says what was opened and how many other dropped items were not. The single view shows
one image at a time; to upscale many files, drop (or choose) their folder and run a batch.

Precision: the box follows Settings > Precision by default ("As in Settings"); choosing auto / fp32 / fp16 /
bf16 overrides it for this tab only ("auto": fp16 on CUDA, bf16 on CPUs with bf16 matrix units, else fp32).
Alpha: "bicubic" (default) resizes the alpha channel with bicubic interpolation, "network" pushes it through
the model (sharper edges, slower).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.imageio import IMAGE_SUFFIXES
from ganstudio.core.progress import Progress
from ganstudio.ui.settings import Settings
from ganstudio.ui.widgets.batch_view import BatchView
from ganstudio.ui.widgets.folder_field import FolderField
from ganstudio.ui.widgets.image_view import CompareView, ImageView, link_views
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.jobs import JobSlot, shutdown_slots

log = logging.getLogger(__name__)

ENGINE = "ganstudio.engines.upscale"
OPEN_JOB, UPSCALE_JOB, SAVE_JOB = f"{ENGINE}:open_image", f"{ENGINE}:upscale_for_view", f"{ENGINE}:save_image"
CHECK_JOB, BATCH_JOB = f"{ENGINE}:inspect_model", f"{ENGINE}:upscale_batch"
THUMB = 96

# (engine name, label, native scale); the engine resolves the names to the bundled Real-ESRGAN weights
MODELS = [
    ("x4plus", "Real-ESRGAN x4plus (photos)", 4),
    ("x4plus-anime", "Real-ESRGAN x4plus anime", 4),
    ("animevideov3-x2", "AnimeVideo v3 x2 (fast)", 2),
    ("animevideov3-x3", "AnimeVideo v3 x3 (fast)", 3),
    ("animevideov3-x4", "AnimeVideo v3 x4 (fast)", 4),
]
TILES = [("Auto (from free memory)", None), ("Whole image", 0), ("128", 128), ("256", 256), ("512", 512),
         ("1024", 1024)]
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
ALPHAS = [("Bicubic (default)", "bicubic"), ("Through the network", "network")]
MODEL_FILE_FILTER = "Super-resolution models (*.pth *.pt *.safetensors *.ckpt);;All files (*)"


def _fmt_scale(scale: float) -> str:
    return f"{float(scale):g}"


class UpscalePanel(QWidget):
    """Open or drop an image, choose model / scale / tile / precision, Upscale, compare, Save; or batch a
    folder into a mirrored output tree."""

    job_state = Signal(str)
    image_loaded = Signal(str)         # path, once the source is decoded and shown
    upscale_finished = Signal(object)  # the engine's UpscaleResult
    saved = Signal(str)
    batch_finished = Signal(object)    # the batch's core.batch.BatchReport; None when it failed or was cancelled
    failed = Signal(str)
    model_checked = Signal(object)     # {"model", "family", "scale"} of a model file the user picked

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings: Optional[Settings] = Settings()  # None runs on the defaults (auto device and precision)
        self.source = None          # ImageData of the opened image
        self.source_path: Optional[str] = None
        self.result = None          # UpscaleResult of the last run
        self._open_note = ""        # what a multi-file drop left unopened, shown after the image loads
        self._notice = ""           # what a large image will take, kept above the progress while it runs
        self._last_model = MODELS[0][0]  # the last real model chosen ("Other model file…" is no model)
        # one slot per kind of job: a newer open / upscale / check replaces an older one (whose late
        # results are dropped); saving is one at a time
        self.open_job = JobSlot(self, "open image")
        self.upscale_job = JobSlot(self, "upscale image")
        self.save_job = JobSlot(self, "save upscaled image", policy="exclusive")
        self.check_job = JobSlot(self, "check model file")
        self.open_job.finished.connect(self._on_opened)
        self.open_job.failed.connect(self._on_open_failed)
        self.upscale_job.progress.connect(self._on_progress)
        self.upscale_job.finished.connect(self._on_upscaled)
        self.upscale_job.failed.connect(self._on_upscale_failed)
        self.upscale_job.cancelled.connect(self._on_cancelled)
        self.save_job.finished.connect(self._on_saved)
        self.save_job.failed.connect(self._on_save_failed)
        self.check_job.finished.connect(self._on_model_checked)
        self.check_job.failed.connect(self._on_check_failed)
        for slot in (self.open_job, self.upscale_job, self.save_job, self.check_job):
            slot.running_changed.connect(self._on_running_changed)
        self.setAcceptDrops(True)
        self._build()
        self._update_buttons()

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QHBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        root.addWidget(splitter)

        side = QWidget()
        col = QVBoxLayout(side)

        single = QGroupBox("Image")
        form = QFormLayout(single)
        self.open_btn = QPushButton("Open image…")
        self.open_btn.clicked.connect(self._browse_image)
        form.addRow(self.open_btn)
        self.model_combo = QComboBox()
        for name, label, scale in MODELS:
            self.model_combo.addItem(label, (name, scale))
        for entry_id, label, scale in self._library_models():
            self.model_combo.addItem(label, (entry_id, scale))
        self.model_combo.addItem("Other model file…", ("__browse__", 0))
        self.model_combo.activated.connect(self._model_activated)
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        form.addRow("Model", self.model_combo)
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.25, 16.0)
        self.scale_spin.setSingleStep(0.5)
        self.scale_spin.setDecimals(2)
        self.scale_spin.setValue(4.0)
        self.scale_spin.setToolTip("Output scale. Other than the model's own, the rest is a Lanczos resize.")
        form.addRow("Scale", self.scale_spin)
        self.tile_combo = QComboBox()
        for label, value in TILES:
            self.tile_combo.addItem(label, value)
        self.tile_combo.setToolTip("Tiles keep memory small on big images; the seams are blended away.")
        form.addRow("Tile", self.tile_combo)
        self.precision_combo = QComboBox()
        self.precision_combo.addItem("As in Settings", None)  # Settings > Precision, read when a job starts
        for prec in PRECISIONS:
            self.precision_combo.addItem(prec, prec)
        self.precision_combo.setToolTip("\"As in Settings\" follows Settings > Precision. Choosing auto / fp32 / "
                                        "fp16 / bf16 here overrides it for this tab only.\nauto: fp16 on a GPU, "
                                        "bf16 on CPUs with bf16 matrix units (several times faster, ~50 dB from "
                                        "fp32), else fp32.")
        form.addRow("Precision", self.precision_combo)
        self.alpha_combo = QComboBox()
        for label, value in ALPHAS:
            self.alpha_combo.addItem(label, value)
        self.alpha_combo.setToolTip("How a transparent image's alpha channel is enlarged: bicubic resize "
                                    "(default), or through the network like the colours (sharper, slower). "
                                    "Images without transparency are not affected.")
        form.addRow("Alpha", self.alpha_combo)
        buttons = QHBoxLayout()
        self.run_btn = QPushButton("Upscale")
        self.run_btn.clicked.connect(self.upscale)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel)
        self.save_btn = QPushButton("Save…")
        self.save_btn.clicked.connect(lambda: self.export())
        for b in (self.run_btn, self.cancel_btn, self.save_btn):
            buttons.addWidget(b)
        form.addRow(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        form.addRow(self.progress)
        self.status = QLabel("Open or drop an image.")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        col.addWidget(single)

        batch = QGroupBox("Batch (folder)")
        bform = QFormLayout(batch)
        in_row = FolderField("Input folder", "Folder of images to upscale", self)
        in_row.chosen.connect(self.open_folder)
        self.in_edit = in_row.edit
        bform.addRow("Input", in_row)
        out_row = FolderField("Output folder", "Output folder", self)
        self.out_edit = out_row.edit
        bform.addRow("Output", out_row)
        self.recursive_check = QCheckBox("Include sub-folders (mirrored)")
        self.recursive_check.setChecked(True)
        bform.addRow(self.recursive_check)
        # Start / Pause / Cancel, progress with ETA, the thumbnail grid and the report: the shared batch view
        self.batch_view = BatchView(self, name="upscale batch", label="Upscale batch", thumb_size=THUMB)
        self.batch_view.start_requested.connect(self.start_batch)
        self.batch_view.finished.connect(self._on_batch_finished)
        self.batch_view.state_changed.connect(self._on_batch_state)
        self.batch_view.open_requested.connect(self.open_image)
        self.batch_view.slot.failed.connect(self._on_batch_failed)
        self.batch_view.report_box.setPlaceholderText("Files that could not be upscaled are listed here.")
        bform.addRow(self.batch_view)
        # the batch view's parts under the names this tab has always had
        self.batch_btn, self.batch_cancel_btn = self.batch_view.start_btn, self.batch_view.cancel_btn
        self.batch_pause_btn = self.batch_view.pause_btn
        self.batch_progress, self.batch_status = self.batch_view.progress, self.batch_view.status
        self.report_text = self.batch_view.report_box
        col.addWidget(batch, 1)
        splitter.addWidget(side)

        right = QWidget()
        rcol = QVBoxLayout(right)
        rcol.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.compare = CompareView()
        self.before_view, self.after_view = ImageView(), ImageView()
        link_views(self.before_view, self.after_view)  # side by side: one zoom and pan for both
        pair = QWidget()
        pl = QHBoxLayout(pair)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.before_view)
        pl.addWidget(self.after_view)
        self.stack.addWidget(self.compare)
        self.stack.addWidget(pair)
        rcol.addWidget(self.stack, 1)
        vrow = QHBoxLayout()
        vrow.addWidget(QLabel("Before"))
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, 1000)
        self.split_slider.setValue(int(self.compare.split() * 1000))
        self.split_slider.valueChanged.connect(lambda v: self.compare.set_split(v / 1000))
        self.compare.split_changed.connect(self._split_moved)
        vrow.addWidget(self.split_slider, 1)
        vrow.addWidget(QLabel("After"))
        self.side_check = QCheckBox("Side by side")
        self.side_check.toggled.connect(lambda on: self.stack.setCurrentIndex(1 if on else 0))
        vrow.addWidget(self.side_check)
        fit_btn = QPushButton("Fit")
        fit_btn.clicked.connect(self._fit)
        vrow.addWidget(fit_btn)
        rcol.addLayout(vrow)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)

    @Slot(float)
    def _split_moved(self, fraction: float) -> None:
        v = int(round(fraction * 1000))
        if self.split_slider.value() != v:
            self.split_slider.blockSignals(True)
            self.split_slider.setValue(v)
            self.split_slider.blockSignals(False)

    def _fit(self) -> None:
        self.compare.fit()
        self.before_view.fit()

    # ------------------------------------------------------------------------------------------ models
    @staticmethod
    def _library_models() -> list[tuple[str, str, int]]:
        """Upscale models of the manifest / user library that are on disk, other than the bundled five
        (which the list above names): e.g. a downloaded RealESRGAN_x4plus.pth or an imported file."""
        try:
            from ganstudio.core.manifest import entry_path, load_manifest

            found = []
            for e in load_manifest():
                if e.task != "upscale" or e.package_resource or entry_path(e) is None:
                    continue
                scale = int(e.arch_kwargs.get("scale") or e.arch_kwargs.get("upscale") or 0)
                found.append((e.id, e.id if not scale else f"{e.id} (x{scale})", scale))
            return found
        except Exception:  # a broken user manifest must not take the tab down
            log.exception("could not list the library's upscale models")
            return []

    def current_model(self) -> str:
        name = self.model_combo.currentData()[0]
        return self._last_model if name == "__browse__" else name

    def _model_index(self, name: str) -> int:
        for i in range(self.model_combo.count()):
            if self.model_combo.itemData(i)[0] == name:
                return i
        return -1

    def refresh_models(self) -> None:
        """Re-read the manifest and the user's library: upscale models added meanwhile join the list (before
        "Other model file…"); the current choice stays."""
        self.model_combo.blockSignals(True)
        for entry_id, label, scale in self._library_models():
            if self._model_index(entry_id) < 0:
                self.model_combo.insertItem(self.model_combo.count() - 1, label, (entry_id, scale))
        self.model_combo.blockSignals(False)

    def select_model(self, name: str) -> bool:
        """Select a model by its engine name, manifest / library id or path, re-reading the library first (a
        model added meanwhile, e.g. by the Train tab's "Use in Upscale", is found), as picking it in the list
        would. False when no listed model has that name."""
        self.refresh_models()
        idx = self._model_index(str(name))
        if idx >= 0:
            self.model_combo.setCurrentIndex(idx)
        return idx >= 0

    def add_model_path(self, path: str) -> None:
        """Add a user's RRDBNet / ESRGAN / Real-ESRGAN / SRVGG file to the list and select it. The file is
        checked in the worker right away: its own scale fills Scale, a wrong or broken file says so now
        rather than at Upscale time (``model_checked`` signal)."""
        idx = self._model_index(str(path))
        if idx < 0:
            idx = self.model_combo.count() - 1  # before "Other model file…"
            self.model_combo.insertItem(idx, Path(path).name, (str(path), 0))
        self.model_combo.setCurrentIndex(idx)
        if self.model_combo.itemData(idx)[1] == 0:  # not checked yet; a newer pick replaces this check
            device = self.settings.device if self.settings is not None else "auto"
            self.check_job.start(CHECK_JOB, {"model": str(path), "device": device or "auto"})

    @Slot(object)
    def _on_model_checked(self, info: dict) -> None:
        idx = self._model_index(info["model"])
        if idx >= 0:
            self.model_combo.setItemData(idx, (info["model"], info["scale"]))
            self.model_combo.setItemText(idx, f"{Path(info['model']).name} (x{info['scale']})")
            if idx == self.model_combo.currentIndex():
                self.scale_spin.setValue(float(info["scale"]))
            # the list entry shows it; the status line stays with the image (an open may be finishing now)
            self.model_combo.setItemData(idx, f"{info['model']}: {info['family']}, ×{info['scale']}",
                                         Qt.ItemDataRole.ToolTipRole)
        self.model_checked.emit(info)

    @Slot(object)
    def _on_check_failed(self, exc) -> None:
        self._show_failure("This model file cannot be used", exc)

    @Slot(int)
    def _model_activated(self, idx: int) -> None:
        if self.model_combo.itemData(idx)[0] != "__browse__":
            return
        path, _ = QFileDialog.getOpenFileName(self, "ESRGAN / Real-ESRGAN model", "", MODEL_FILE_FILTER)
        if path:
            self.add_model_path(path)
        else:  # cancelled: back to the model chosen before, not the first of the list
            self.model_combo.setCurrentIndex(max(0, self._model_index(self._last_model)))

    @Slot(int)
    def _model_changed(self, idx: int) -> None:
        name, scale = self.model_combo.itemData(idx)
        if name != "__browse__":
            self._last_model = name
        if scale:
            self.scale_spin.setValue(float(scale))

    def precision(self) -> str:
        """The tab's override, else Settings > Precision ("auto" without settings)."""
        chosen = self.precision_combo.currentData()
        if chosen:
            return chosen
        pref = self.settings.precision if self.settings is not None else "auto"
        return pref if pref in PRECISIONS else "auto"

    def _job_common(self) -> dict:
        tile = self.tile_combo.currentData()
        device = self.settings.device if self.settings is not None else "auto"
        return {"model": self.current_model(), "scale": float(self.scale_spin.value()), "tile": tile,
                "device": device or "auto", "precision": self.precision(),
                "alpha": self.alpha_combo.currentData()}

    # ------------------------------------------------------------------------------------------ jobs
    def _single_busy(self) -> bool:
        return any(s.is_running() for s in (self.open_job, self.upscale_job, self.save_job))

    def is_busy(self) -> bool:
        return any(s.is_running() for s in self.findChildren(JobSlot))

    @Slot(bool)
    def _on_running_changed(self, _running: bool) -> None:
        self._update_buttons()

    @Slot(str)
    def _on_batch_state(self, _text: str) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        single_busy = self._single_busy()
        self.run_btn.setEnabled(self.source is not None and not single_busy)
        self.cancel_btn.setEnabled(self.upscale_job.is_running() and not self.upscale_job.cancelling)
        self.save_btn.setEnabled(self.result is not None and not single_busy)
        batch = self.batch_view.state_text()
        if batch:
            self.job_state.emit(batch)
        elif self.upscale_job.is_running():
            self.job_state.emit("Upscale: cancelling…" if self.upscale_job.cancelling else "Upscaling…")
        elif single_busy or self.check_job.is_running():
            self.job_state.emit("Upscale: working…")
        else:
            self.job_state.emit("")

    def _show_failure(self, what: str, exc) -> str:
        msg = user_message(exc)
        self.progress.setValue(0)
        self.status.setText(f"{what}: {msg}")
        self.failed.emit(msg)
        return msg

    # ------------------------------------------------------------------------------------------ single
    def open_image(self, path: str) -> bool:
        p = Path(path)
        if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES:
            return False
        if self.upscale_job.is_running():
            self.status.setText("Busy: cancel the running upscale first.")
            return False
        self.status.setText(f"Opening {p.name}…")
        self.open_job.start(OPEN_JOB, {"path": str(p)})  # a second open replaces the first
        return True

    @Slot(object)
    def _on_open_failed(self, exc) -> None:
        self._open_note = ""
        self._show_failure("Could not open the image", exc)

    @Slot(object)
    def _on_opened(self, res: dict) -> None:
        self.source = res["image"]
        self.source_path = res["path"]
        self.result = None
        shown = res["display"]
        self.compare.set_images(shown, shown)
        self.compare.fit()
        self.before_view.set_image(shown)
        self.after_view.set_image(None)
        self.before_view.fit()
        h, w = shown.shape[:2]
        self.status.setText(f"{Path(self.source_path).name}: {w}×{h}, {self.source.bit_depth}-bit"
                            f"{', alpha' if self.source.alpha is not None else ''}. Press Upscale."
                            + self._open_note)
        self._open_note = ""
        self.progress.setValue(0)
        self._update_buttons()
        self.image_loaded.emit(self.source_path)

    def _browse_image(self) -> None:
        start = self.settings.last_dir("open") if self.settings is not None else ""
        filt = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"
        path, _ = QFileDialog.getOpenFileName(self, "Open an image to upscale", start, filt)
        if path:
            self.open_image(path)

    def upscale(self) -> bool:
        if self.source is None or self._single_busy():
            return False
        kw = self._job_common()
        kw["image"] = self.source
        self.result = None
        self._notice = ""
        self.progress.setValue(0)
        self.status.setText(f"Upscaling ×{_fmt_scale(kw['scale'])} with {kw['model']}…")
        self.upscale_job.start(UPSCALE_JOB, kw)
        return True

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if self.upscale_job.cancelling:
            return  # "Cancelling…" stays until the job has stopped
        notice = (p.extra or {}).get("notice")
        if notice:
            self._notice = notice
            self.status.setText(notice)
            return
        self.progress.setValue(int(p.fraction * 1000))
        self.status.setText(f"{self._notice}\n{p.message}" if self._notice else p.message)

    @Slot(object)
    def _on_upscaled(self, res) -> None:
        self.result = res
        shown = res.extra["display"]
        self.compare.set_after(shown, keep_view=False)
        self.compare.fit()
        self.after_view.set_image(shown)
        self.before_view.fit()
        h, w = shown.shape[:2]
        self.progress.setValue(1000)
        self._notice = ""
        self.status.setText(f"Done: {w}×{h} with {res.model} on {res.device} "
                            f"({res.extra.get('precision', '')}) in {res.seconds:.1f} s.")
        self._update_buttons()
        self.upscale_finished.emit(res)

    @Slot(object)
    def _on_upscale_failed(self, exc) -> None:
        self._notice = ""
        self._show_failure("Upscale failed", exc)

    def cancel(self) -> None:
        """Cancel the running upscale: "Cancelling…" now, "Cancelled." when it has stopped (within one
        network block)."""
        if self.upscale_job.cancel():
            self.status.setText("Cancelling…")
            self._update_buttons()

    @Slot()
    def _on_cancelled(self) -> None:
        self._notice = ""
        self.status.setText("Cancelled.")
        self.progress.setValue(0)

    def default_save_name(self) -> str:
        stem = Path(self.source_path).stem if self.source_path else "upscaled"
        scale = self.result.scale if self.result is not None else self.scale_spin.value()
        return f"{stem}_x{_fmt_scale(scale)}.png"

    def export(self, path: Optional[str] = None) -> bool:
        """Save the full-resolution result (Save button, File > Export…); writing runs in the worker."""
        if self.result is None:
            self.status.setText("Nothing to save yet: upscale an image first.")
            return False
        if path is None:
            folder = Path(self.source_path).parent if self.source_path else Path.home()
            path, _ = QFileDialog.getSaveFileName(
                self, "Save the upscaled image", str(folder / self.default_save_name()),
                "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp);;TIFF (*.tif *.tiff)")
            if not path:
                return False
        if self.save_job.start(SAVE_JOB, {"path": str(path), "image": self.result.image,
                                          "source_path": self.source_path}) is None:
            return False  # one save at a time
        self.status.setText(f"Saving {Path(path).name}…")
        return True

    @Slot(object)
    def _on_saved(self, path: str) -> None:
        self.status.setText(f"Saved {path}")
        self.saved.emit(str(path))

    @Slot(object)
    def _on_save_failed(self, exc) -> None:
        self._show_failure("Save failed", exc)

    # ------------------------------------------------------------------------------------------ batch
    def open_folder(self, path: str) -> bool:
        p = Path(path)
        if not p.is_dir():
            return False
        self.in_edit.setText(str(p))
        if not self.out_edit.text():
            self.out_edit.setText(str(p.parent / f"{p.name}_upscaled"))
        self.batch_status.setText("Choose the output folder and press Start batch.")
        return True

    @Slot()
    def start_batch(self) -> bool:
        src, out = self.in_edit.text().strip(), self.out_edit.text().strip()
        if not src or not Path(src).is_dir():
            self.batch_view.show_message("Pick an input folder first.")
            return False
        if not out:
            self.batch_view.show_message("Pick an output folder first.")
            return False
        if Path(out).resolve() == Path(src).resolve():  # the engine refuses it too; say so before starting
            self.batch_view.show_message("The output folder must differ from the input folder.")
            return False
        kw = self._job_common()
        kw.update(inputs=[src], output_dir=out, recursive=self.recursive_check.isChecked(), thumb_size=THUMB)
        return self.batch_view.start(BATCH_JOB, kw)

    @property
    def last_report(self):
        """The ``core.batch.BatchReport`` of the last batch that finished."""
        return self.batch_view.last_report

    @Slot(object)
    def _on_batch_finished(self, report) -> None:
        self.batch_finished.emit(report)

    @Slot(object)
    def _on_batch_failed(self, exc) -> None:
        self.failed.emit(user_message(exc))  # the batch view shows "The batch stopped: …"

    def cancel_batch(self) -> None:
        self.batch_view.cancel()

    # ------------------------------------------------------------------------------------------ drops
    def open_many(self, paths) -> str:
        """Several dropped / given paths: open the first image file in the view, put the first folder in the
        batch input (nothing starts by itself) and say on the status line what happened to the rest.
        Returns that message ("" when nothing could be used)."""
        paths = [str(p) for p in paths if str(p)]
        image = next((p for p in paths if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES), None)
        folder = next((p for p in paths if Path(p).is_dir()), None)
        opened_image = image is not None and self.open_image(image)
        opened_folder = folder is not None and self.open_folder(folder)
        used = [p for p, ok in ((image, opened_image), (folder, opened_folder)) if ok]
        if not used:
            msg = "Nothing to open: drop an image file or a folder of images."
            if paths and self.upscale_job.is_running():
                msg = "Busy: cancel the running upscale first."
            self.status.setText(msg)
            return ""
        rest = len(paths) - len(used)
        parts = []
        if opened_image:
            parts.append(f"Opening {Path(image).name}")
        if opened_folder:
            parts.append(f"batch input set to {Path(folder).name} (press Start batch)")
        note = ""
        if rest:
            note = (f" {rest} other dropped item{'s' if rest != 1 else ''} not opened: the view shows one "
                    "image at a time; to upscale many files, drop their folder and use Batch.")
        msg = "; ".join(parts) + "." + note
        msg = msg[0].upper() + msg[1:]
        if opened_image:
            self._open_note = note  # kept on the status line once the image is shown
            self.status.setText(msg)
        if opened_folder:
            self.batch_status.setText(msg)
        return msg

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if self.open_many(paths):
            event.acceptProposedAction()

    # ------------------------------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Cancel and join this panel's jobs (called on window close)."""
        self.batch_view.shutdown()  # says "Cancelled" and emits its end, which the slot would drop
        shutdown_slots(self)
        self._update_buttons()
