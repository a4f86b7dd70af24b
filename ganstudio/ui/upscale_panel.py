"""The Upscale tab: Real-ESRGAN super-resolution of one image (before/after view) or a whole folder.

Everything heavy (decoding, the network, encoding) runs in the engine worker through EngineJob strings
naming ``ganstudio.engines.upscale`` functions; this module never imports torch. The panel keeps the
``ImageData`` it gets back (plain numpy + metadata) so Save writes the full result with its bit depth,
alpha, ICC profile and EXIF.

Panel contract (main_window): ``UpscalePanel(parent=None)``, ``open_image(path) -> bool``,
``open_folder(path) -> bool``, ``open_many(paths) -> str``, ``export()``, ``shutdown()``, ``job_state`` signal.

Dropping several things (on the tab or the window), see ``open_many``: the first image file opens in the
before/after view, the first folder becomes the batch input (nothing starts by itself: press Start batch),
and the status line says what was opened and how many other dropped items were not. The single view shows
one image at a time; to upscale many files, drop (or choose) their folder and run a batch.

Precision: the box follows Settings > Precision by default ("As in Settings"); choosing fp32 / fp16 / bf16
overrides it for this tab only. Alpha: "bicubic" (default) resizes the alpha channel with bicubic
interpolation, "network" pushes it through the model (sharper edges, slower).
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
    QPlainTextEdit,
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
from ganstudio.ui.widgets.folder_field import FolderField
from ganstudio.ui.widgets.image_view import CompareView, ImageView, link_views
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.engine_worker import EngineJob, JobHandle, start_job

log = logging.getLogger(__name__)

ENGINE = "ganstudio.engines.upscale"

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
PRECISIONS = ("fp32", "fp16", "bf16")
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
    batch_finished = Signal(object)    # the engine's report dict
    failed = Signal(str)
    model_checked = Signal(object)     # {"model", "family", "scale"} of a model file the user picked

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings: Optional[Settings] = Settings()  # None runs on the defaults (auto device, fp32)
        self.source = None          # ImageData of the opened image
        self.source_path: Optional[str] = None
        self.result = None          # UpscaleResult of the last run
        self.last_report: Optional[dict] = None
        self._open_note = ""        # what a multi-file drop left unopened, shown after the image loads
        self._last_model = MODELS[0][0]  # the last real model chosen ("Other model file…" is no model)
        self._jobs: dict[str, JobHandle] = {}
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
        self.precision_combo.setToolTip("\"As in Settings\" follows Settings > Precision. Choosing fp32 / fp16 / "
                                        "bf16 here overrides it for this tab only.\nfp16 / bf16 run faster on "
                                        "GPUs; the CPU runs fp32 when unsupported.")
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
        brow = QHBoxLayout()
        self.batch_btn = QPushButton("Start batch")
        self.batch_btn.clicked.connect(self.start_batch)
        self.batch_cancel_btn = QPushButton("Cancel batch")
        self.batch_cancel_btn.clicked.connect(self.cancel_batch)
        brow.addWidget(self.batch_btn)
        brow.addWidget(self.batch_cancel_btn)
        bform.addRow(brow)
        self.batch_progress = QProgressBar()
        self.batch_progress.setRange(0, 1000)
        self.batch_progress.setVisible(False)  # an empty bar before any batch looks like a text field
        bform.addRow(self.batch_progress)
        self.batch_status = QLabel("")
        self.batch_status.setWordWrap(True)
        bform.addRow(self.batch_status)
        self.report_text = QPlainTextEdit()
        self.report_text.setReadOnly(True)
        self.report_text.setPlaceholderText("Files that could not be upscaled are listed here.")
        self.report_text.setMaximumHeight(120)
        bform.addRow(self.report_text)
        col.addWidget(batch)
        col.addStretch(1)
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

    def select_model(self, name: str) -> bool:
        """Select a listed model by its engine name, manifest id or path."""
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
        key = f"inspect:{path}"
        if self.model_combo.itemData(idx)[1] == 0 and key not in self._jobs:
            device = self.settings.device if self.settings is not None else "auto"
            self._start(key, EngineJob(f"{ENGINE}:inspect_model", {"model": str(path), "device": device},
                                             name="check model file"), self._on_model_checked)

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
        """The tab's override, else Settings > Precision (fp32 without settings)."""
        chosen = self.precision_combo.currentData()
        if chosen:
            return chosen
        pref = self.settings.precision if self.settings is not None else "fp32"
        return pref if pref in PRECISIONS else "fp32"

    def _job_common(self) -> dict:
        tile = self.tile_combo.currentData()
        device = self.settings.device if self.settings is not None else "auto"
        return {"model": self.current_model(), "scale": float(self.scale_spin.value()), "tile": tile,
                "device": device or "auto", "precision": self.precision(),
                "alpha": self.alpha_combo.currentData()}

    # ------------------------------------------------------------------------------------------ jobs
    def _start(self, key: str, job: EngineJob, finished, progress=None) -> JobHandle:
        handle = start_job(job)
        self._jobs[key] = handle
        w = handle.worker
        if progress is not None:
            w.progress.connect(progress)
        w.finished.connect(finished)
        w.failed.connect(lambda msg, _tb, key=key: self._on_failed(key, msg))
        w.cancelled.connect(lambda key=key: self._on_cancelled(key))
        # a bound method, not a closure holding the handle: PySide keeps connected callables alive, and
        # the handle holds the job's kwargs (whole images)
        handle.thread.finished.connect(self._job_done)
        self._update_buttons()
        return handle

    @Slot()
    def _job_done(self) -> None:
        thread = self.sender()
        for key, handle in list(self._jobs.items()):
            if handle.thread is thread or handle.thread.isFinished():
                del self._jobs[key]
        self._update_buttons()

    def _on_failed(self, key: str, msg: str) -> None:
        msg = user_message(msg)
        what = {"open": "Could not open the image", "upscale": "Upscale failed", "save": "Save failed",
                "batch": "The batch stopped", "inspect": "This model file cannot be used"}.get(key.split(":")[0],
                                                                                             "Failed")
        if key == "open":
            self._open_note = ""
        if key == "batch":
            self.batch_progress.setValue(0)
            self.batch_status.setText(f"{what}: {msg}")
        else:
            self.progress.setValue(0)
            self.status.setText(f"{what}: {msg}")
        self.failed.emit(msg)

    def _on_cancelled(self, key: str) -> None:
        if key == "batch":
            self.batch_status.setText("Batch cancelled; files already written are kept (a rerun skips them).")
            self.batch_progress.setValue(0)
        elif key == "upscale":
            self.status.setText("Cancelled.")
            self.progress.setValue(0)

    def is_busy(self) -> bool:
        return bool(self._jobs)

    def _update_buttons(self) -> None:
        single_busy = any(k in self._jobs for k in ("open", "upscale", "save"))
        self.run_btn.setEnabled(self.source is not None and not single_busy)
        self.cancel_btn.setEnabled("upscale" in self._jobs)
        self.save_btn.setEnabled(self.result is not None and not single_busy)
        self.batch_btn.setEnabled("batch" not in self._jobs)
        self.batch_cancel_btn.setEnabled("batch" in self._jobs)
        if "batch" in self._jobs:
            self.job_state.emit("Upscale batch running")
        elif "upscale" in self._jobs:
            self.job_state.emit("Upscaling…")
        elif single_busy:
            self.job_state.emit("Upscale: working…")
        else:
            self.job_state.emit("")

    # ------------------------------------------------------------------------------------------ single
    def open_image(self, path: str) -> bool:
        p = Path(path)
        if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES:
            return False
        if "open" in self._jobs or "upscale" in self._jobs:
            self.status.setText("Busy: cancel the running upscale first.")
            return False
        self.status.setText(f"Opening {p.name}…")
        self._start("open", EngineJob(f"{ENGINE}:open_image", {"path": str(p)}, name="open image"),
                    self._on_opened)
        return True

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
        if self.source is None or "upscale" in self._jobs:
            return False
        kw = self._job_common()
        kw["image"] = self.source
        self.result = None
        self.progress.setValue(0)
        self.status.setText(f"Upscaling ×{_fmt_scale(kw['scale'])} with {kw['model']}…")
        self._start("upscale", EngineJob(f"{ENGINE}:upscale_for_view", kw, name="upscale image"),
                    self._on_upscaled, self._on_progress)
        return True

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        self.progress.setValue(int(p.fraction * 1000))
        self.status.setText(p.message)

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
        self.status.setText(f"Done: {w}×{h} with {res.model} on {res.device} in {res.seconds:.1f} s.")
        self._update_buttons()
        self.upscale_finished.emit(res)

    def cancel(self) -> None:
        h = self._jobs.get("upscale")
        if h is not None:
            h.cancel()

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
            path, _ = QFileDialog.getSaveFileName(self, "Save the upscaled image",
                                                  str(folder / self.default_save_name()),
                                                  "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp);;TIFF (*.tif *.tiff)")
            if not path:
                return False
        if "save" in self._jobs:
            return False
        self.status.setText(f"Saving {Path(path).name}…")
        self._start("save", EngineJob(f"{ENGINE}:save_image", {"path": str(path), "image": self.result.image,
                                                               "source_path": self.source_path},
                                      name="save upscaled image"), self._on_saved)
        return True

    @Slot(object)
    def _on_saved(self, path: str) -> None:
        self.status.setText(f"Saved {path}")
        self.saved.emit(str(path))

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

    def start_batch(self) -> bool:
        src, out = self.in_edit.text().strip(), self.out_edit.text().strip()
        if not src or not Path(src).is_dir():
            self.batch_status.setText("Pick an input folder first.")
            return False
        if not out:
            self.batch_status.setText("Pick an output folder first.")
            return False
        if Path(out).resolve() == Path(src).resolve():
            self.batch_status.setText("The output folder must differ from the input folder.")
            return False
        if "batch" in self._jobs:
            return False
        kw = self._job_common()
        kw.update(inputs=[src], output_dir=out, recursive=self.recursive_check.isChecked())
        self.report_text.clear()
        self.batch_progress.setValue(0)
        self.batch_progress.setVisible(True)
        self.batch_status.setText("Starting…")
        self._start("batch", EngineJob(f"{ENGINE}:upscale_batch", kw, name="upscale batch"),
                    self._on_batch_finished, self._on_batch_progress)
        return True

    @Slot(object)
    def _on_batch_progress(self, p: Progress) -> None:
        self.batch_progress.setValue(int(p.fraction * 1000))
        self.batch_status.setText(p.message)

    @Slot(object)
    def _on_batch_finished(self, report: dict) -> None:
        self.last_report = report
        self.batch_progress.setValue(1000)
        n_done, n_skip, n_fail = len(report["done"]), len(report["skipped"]), len(report["failed"])
        if n_done + n_skip + n_fail == 0:
            self.batch_status.setText(f"No images found in {self.in_edit.text().strip()}"
                                      f"{'' if self.recursive_check.isChecked() else ' (sub-folders not included)'}.")
        else:
            self.batch_status.setText(f"{n_done} written, {n_skip} skipped (already done), {n_fail} failed "
                                      f"→ {report['output_dir']}")
        self.report_text.setPlainText("\n".join(f"{f['input']}: {f['reason']}" for f in report["failed"]))
        self.batch_finished.emit(report)

    def cancel_batch(self) -> None:
        h = self._jobs.get("batch")
        if h is not None:
            h.cancel()

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
            if paths and ("open" in self._jobs or "upscale" in self._jobs):
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
        handles = list(self._jobs.values())
        for h in handles:
            h.cancel()
        for h in handles:
            h.wait()
        # joined: idle now, whether or not the threads' finished signals have reached us yet
        for key, h in list(self._jobs.items()):
            if h.thread.isFinished():
                del self._jobs[key]
        self._update_buttons()
