"""The Train tab's set-up form: task, folders (dropped or picked, checked at once), what to start from,
size / batch / steps / learning rate prefilled with the task's defaults, GPUs, an estimate, Start.

Everything slow runs in the worker through JobSlots: the recipe defaults (``describe``: importing the
recipes imports torch), the data check (every image is read: the trainer's own check, with its messages),
the estimate (a couple of real steps on the chosen device). The form asks for a start with
``start_requested(request)``; it never starts a process itself (the panel does).

A number field at 0 shows "default" and means the recipe's default; the defaults fill the fields once the
worker has read them (``load_defaults``, when the tab is first shown).
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.progress import format_eta
from ganstudio.ui.train.tasks import LABEL_SETS, TASKS, start_models, task_info
from ganstudio.ui.widgets.folder_field import FolderField
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.jobs import JobSlot

log = logging.getLogger(__name__)

DESCRIBE_JOB = "ganstudio.training.jobs:describe_tasks"
CHECK_JOB = "ganstudio.training.jobs:check_data"
ESTIMATE_JOB = "ganstudio.training.jobs:estimate"
CHECK_DELAY_MS = 400  # after the last keystroke in a folder field
SCRATCH = ""  # "start from": nothing (a new network)


def _mb(n: Optional[float]) -> str:
    if n is None:
        return "?"
    return f"{n / 2 ** 30:.1f} GB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MB"


def format_duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    return format_eta(seconds)


class DropFolderField(FolderField):
    """A FolderField that also takes a folder dropped on it (the first dropped folder; a dropped file
    gives its folder)."""

    dropped = Signal(str)

    def __init__(self, placeholder: str, dialog_title: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(placeholder, dialog_title, parent)
        self.setAcceptDrops(True)
        self.edit.setAcceptDrops(False)  # the drop reaches this widget, not the line edit's text insert

    @staticmethod
    def _folder(event) -> str:
        mime = event.mimeData()
        for url in (mime.urls() if mime is not None and mime.hasUrls() else []):
            if url.isLocalFile():
                p = Path(url.toLocalFile())
                if p.is_dir():
                    return str(p)
                if p.is_file():
                    return str(p.parent)
        return ""

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self._folder(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folder = self._folder(event)
        if not folder:
            event.ignore()
            return
        event.acceptProposedAction()
        self.edit.setText(folder)
        self.dropped.emit(folder)


def _spin(lo: int, hi: int, step: int = 1, default_text: str = "default") -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setSpecialValueText(default_text)  # 0: the recipe's default
    s.setAccelerated(True)
    s.setGroupSeparatorShown(True)
    return s


class SetupForm(QWidget):
    """See the module docstring. ``start_requested({"config", "nproc", "name"})``."""

    start_requested = Signal(object)
    data_checked = Signal(object)  # the check job's result dict, or {"error": message}
    estimate_ready = Signal(object)  # the estimate dict, or {"error": message}
    defaults_ready = Signal(object)

    def __init__(self, settings=None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings = settings  # ui.settings.Settings or None (device / precision "auto")
        self.defaults: dict = {}  # task -> recipe defaults (from the worker)
        self.cuda_devices = 0
        self.auto_estimate: Optional[bool] = None  # None: estimate by itself on CUDA only (quick there)
        self._check_key: Optional[tuple] = None  # the settings the last data check was for
        self._check_result: Optional[dict] = None  # its result ({"error": ...} when the data was refused)
        self._pending_start = False
        self._entries: list = []
        self.describe_job = JobSlot(self, "training defaults")
        self.describe_job.finished.connect(self._on_described)
        self.describe_job.failed.connect(self._on_describe_failed)
        self.check_job = JobSlot(self, "check training data")
        self.check_job.finished.connect(self._on_checked)
        self.check_job.failed.connect(self._on_check_failed)
        self.estimate_job = JobSlot(self, "estimate training")
        self.estimate_job.progress.connect(self._on_estimate_progress)
        self.estimate_job.finished.connect(self._on_estimated)
        self.estimate_job.failed.connect(self._on_estimate_failed)
        self.estimate_job.cancelled.connect(self._on_estimate_cancelled)
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self.check_data)
        self._build()
        self._load_entries()
        self._on_task_changed()

    def load_defaults(self) -> None:
        """Read the recipe defaults in the worker (importing the recipes imports torch: the panel asks
        when the tab is first shown, so the app's start never waits for it)."""
        if not self.defaults and not self.describe_job.is_running():
            self.describe_job.start(DESCRIBE_JOB, {})

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form = form
        self.task_combo = QComboBox(self)
        for t in TASKS:
            self.task_combo.addItem(t.label, t.task)
            self.task_combo.setItemData(self.task_combo.count() - 1, t.about, Qt.ItemDataRole.ToolTipRole)
        self.task_combo.currentIndexChanged.connect(self._on_task_changed)
        form.addRow("Task:", self.task_combo)

        self.folder_fields: dict[str, DropFolderField] = {}
        for key in ("data", "data_a", "data_b", "labels", "images", "instances"):
            field = DropFolderField("", "Training folder", self)
            field.edit.textChanged.connect(self._on_folder_edited)
            field.chosen.connect(lambda _p: self.check_data())
            field.dropped.connect(lambda _p: self.check_data())
            self.folder_fields[key] = field
            form.addRow(key, field)
        self.label_set_combo = QComboBox(self)
        self.label_set_combo.setEditable(True)  # or a number of labels
        self.label_set_combo.addItems(list(LABEL_SETS))
        self.label_set_combo.setToolTip("The label set of the maps: ade20k, coco, cityscapes, or the number "
                                        "of labels of your own set")
        self.label_set_combo.currentTextChanged.connect(self._on_folder_edited)
        form.addRow("Label set:", self.label_set_combo)
        self.data_label = QLabel("", self)
        self.data_label.setWordWrap(True)
        self.data_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", self.data_label)

        self.start_combo = QComboBox(self)
        self.start_combo.setToolTip("Fine-tune a bundled, imported or official model of this kind, or train a "
                                    "new network from scratch. A model not downloaded yet can be fetched in "
                                    "Models › Model manager.")
        self.start_combo.currentIndexChanged.connect(self._on_settings_changed)
        form.addRow("Start from:", self.start_combo)

        self.size_spin = _spin(0, 2048, 16)
        self.size_spin.setSuffix(" px")
        self.batch_spin = _spin(0, 4096)
        self.steps_spin = _spin(0, 10_000_000, 1000)
        self.lr_edit = QLineEdit(self)
        self.lr_edit.setPlaceholderText("default")
        self.lr_edit.setToolTip("Learning rate, e.g. 0.0002 or 2e-4; empty: the recipe's default")
        self.size_spin.setToolTip("Training resolution (the side of the square crop)")
        self.batch_spin.setToolTip("Images per step (split among the GPUs)")
        sizes = QHBoxLayout()
        sizes.addWidget(self.size_spin, 1)
        sizes.addWidget(QLabel("Batch:"))
        sizes.addWidget(self.batch_spin, 1)
        form.addRow("Size:", sizes)
        sched = QHBoxLayout()
        sched.addWidget(self.steps_spin, 2)
        sched.addWidget(QLabel("lr:"))
        sched.addWidget(self.lr_edit, 1)
        form.addRow("Steps:", sched)
        for w in (self.size_spin, self.batch_spin, self.steps_spin):
            w.valueChanged.connect(self._on_settings_changed)
        self.lr_edit.textChanged.connect(self._on_settings_changed)

        self.gpus_spin = QSpinBox(self)
        self.gpus_spin.setRange(1, 1)
        self.gpus_spin.setToolTip("Train on several GPUs at once (torchrun, DDP); the batch is split among them")
        form.addRow("GPUs:", self.gpus_spin)
        self.runtime_label = QLabel("", self)
        self.runtime_label.setToolTip("Device and precision come from the Settings menu")
        form.addRow("Runs on:", self.runtime_label)
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("a name for the run (default: task and time)")
        form.addRow("Run name:", self.name_edit)
        root.addLayout(form)

        # advanced settings, folded away
        self.advanced_btn = QToolButton(self)
        self.advanced_btn.setText("Advanced")
        self.advanced_btn.setCheckable(True)
        self.advanced_btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_btn.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_btn.setAutoRaise(True)
        self.advanced_btn.toggled.connect(self._toggle_advanced)
        root.addWidget(self.advanced_btn)
        self.advanced = QWidget(self)
        adv = QFormLayout(self.advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        adv.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.sample_spin = _spin(0, 1_000_000, 50)
        self.sample_spin.setToolTip("Steps between sample grids (the same fixed inputs each time)")
        self.checkpoint_spin = _spin(0, 1_000_000, 500)
        self.checkpoint_spin.setToolTip("Steps between checkpoints (a Stop writes one too)")
        every = QHBoxLayout()
        every.addWidget(QLabel("samples"))
        every.addWidget(self.sample_spin, 1)
        every.addWidget(QLabel("checkpoints"))
        every.addWidget(self.checkpoint_spin, 1)
        adv.addRow("Every:", every)
        self.seed_spin = QSpinBox(self)
        self.seed_spin.setRange(0, 2 ** 31 - 1)
        self.metrics_check = QCheckBox("FID / PSNR / SSIM at checkpoints", self)
        self.metrics_check.setChecked(True)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.metrics_check)
        adv.addRow("Seed:", seed_row)
        self.arch_edit = QLineEdit(self)
        self.arch_edit.setPlaceholderText("e.g. ngf=32 ndf=32 (the network's size; empty: defaults)")
        adv.addRow("Network:", self.arch_edit)
        self.options_edit = QLineEdit(self)
        self.options_edit.setPlaceholderText("recipe options, e.g. lambda_cycle=5")
        adv.addRow("Options:", self.options_edit)
        self.advanced.setVisible(False)
        root.addWidget(self.advanced)
        for w in (self.sample_spin, self.checkpoint_spin, self.seed_spin):
            w.valueChanged.connect(self._on_settings_changed)
        self.arch_edit.textChanged.connect(self._on_settings_changed)

        est = QHBoxLayout()
        self.estimate_label = QLabel("", self)
        self.estimate_label.setWordWrap(True)
        self.estimate_btn = QPushButton("Estimate", self)
        self.estimate_btn.setToolTip("Time a couple of real steps on the chosen device: time per step, the whole "
                                     "run, and memory")
        self.estimate_btn.clicked.connect(self.estimate)
        est.addWidget(self.estimate_label, 1)
        est.addWidget(self.estimate_btn, 0, Qt.AlignmentFlag.AlignTop)
        root.addLayout(est)
        self.start_btn = QPushButton("Start training", self)
        self.start_btn.setObjectName("primaryButton")
        self.start_btn.setMinimumHeight(32)
        self.start_btn.clicked.connect(self.request_start)
        root.addWidget(self.start_btn)
        root.addStretch(1)
        self._update_runtime_label()

    @Slot(bool)
    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_btn.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _load_entries(self) -> None:
        try:
            from ganstudio.core.manifest import load_manifest

            self._entries = load_manifest()
        except Exception as exc:  # a broken manifest must not break the tab
            log.warning("could not read the model manifest: %s", exc)
            self._entries = []

    def refresh_models(self) -> None:
        """Re-read the manifest (a model was imported, downloaded or published)."""
        self._load_entries()
        self._fill_start_models()

    # ------------------------------------------------------------------------------------------ task
    def task(self) -> str:
        return self.task_combo.currentData()

    def set_task(self, task: str) -> None:
        self.task_combo.setCurrentIndex(self.task_combo.findData(task))

    @Slot()
    def _on_task_changed(self, *_args) -> None:
        info = task_info(self.task())
        shown = {f.key: f for f in info.folders}
        for key, field in self.folder_fields.items():
            f = shown.get(key)
            self.form.setRowVisible(field, f is not None)
            if f is not None:
                label = self.form.labelForField(field)
                label.setText(f"{f.label}:")
                field.edit.setPlaceholderText(("" if f.required else "(optional) ") + f.hint)
                field.dialog_title = f"{f.label} folder"
        self.form.setRowVisible(self.label_set_combo, self.task() == "spade")
        self._fill_start_models()
        self._apply_defaults()
        self._check_key = self._check_result = None
        self.data_label.setText("")
        self.estimate_label.setText("")
        if any(self.folder_fields[f.key].edit.text().strip() for f in info.folders):
            self._check_timer.start()

    def _fill_start_models(self) -> None:
        task = self.task()
        info = task_info(task)
        current = self.start_combo.currentData()
        self.start_combo.blockSignals(True)
        self.start_combo.clear()
        models = start_models(task, self._entries)
        scratch = "none" if info.start_default else SCRATCH  # ESRGAN's recipe fine-tunes x4plus unless "none"
        for m in models:
            self.start_combo.addItem(m["label"], m["id"])
            self.start_combo.setItemData(self.start_combo.count() - 1, m["present"], Qt.ItemDataRole.UserRole + 1)
        self.start_combo.addItem("From scratch (a new network)", scratch)
        self.start_combo.setItemData(self.start_combo.count() - 1, True, Qt.ItemDataRole.UserRole + 1)
        default = next((i for i, m in enumerate(models) if m["default"]), self.start_combo.count() - 1)
        idx = self.start_combo.findData(current) if current is not None else -1
        self.start_combo.setCurrentIndex(idx if idx >= 0 else default)
        self.start_combo.blockSignals(False)

    def _apply_defaults(self) -> None:
        d = self.defaults.get(self.task(), {})
        for spin, key in ((self.size_spin, "size"), (self.batch_spin, "batch"), (self.steps_spin, "steps"),
                          (self.sample_spin, "sample_every"), (self.checkpoint_spin, "checkpoint_every")):
            spin.blockSignals(True)
            spin.setValue(int(d.get(key) or 0))
            spin.blockSignals(False)
        self.lr_edit.blockSignals(True)
        self.lr_edit.setText(f"{d['lr']:g}" if d.get("lr") else "")
        self.lr_edit.blockSignals(False)

    @Slot(object)
    def _on_described(self, info: dict) -> None:
        self.defaults = dict(info.get("tasks") or {})
        self.cuda_devices = int(info.get("cuda_devices") or 0)
        self.gpus_spin.setRange(1, max(1, self.cuda_devices))
        self.gpus_spin.setValue(max(1, self.cuda_devices))
        self.form.setRowVisible(self.gpus_spin, self.cuda_devices > 1)
        self._apply_defaults()
        self._update_runtime_label()
        self.defaults_ready.emit(self.defaults)

    @Slot(object)
    def _on_describe_failed(self, exc) -> None:
        self.estimate_label.setText(f"Could not read the training defaults: {user_message(exc)}")

    def _update_runtime_label(self) -> None:
        dev, prec = self.runtime()
        where = {"auto": "automatic device", "cpu": "CPU"}.get(dev, dev)
        gpus = f" · {self.cuda_devices} CUDA devices" if self.cuda_devices > 1 else ""
        self.runtime_label.setText(f"{where} · precision {prec}{gpus}  (Settings menu)")
        self.form.setRowVisible(self.gpus_spin, self.cuda_devices > 1)

    def runtime(self) -> tuple[str, str]:
        s = self.settings
        return (s.device if s is not None else "auto"), (s.precision if s is not None else "auto")

    # ------------------------------------------------------------------------------------------ folders
    def folders(self) -> dict:
        """The shown folder fields' values (empty ones left out)."""
        info = task_info(self.task())
        return {f.key: self.folder_fields[f.key].edit.text().strip() for f in info.folders
                if self.folder_fields[f.key].edit.text().strip()}

    def set_folder(self, key: str, path: str) -> None:
        self.folder_fields[key].edit.setText(str(path))

    def take_folder(self, path: str) -> bool:
        """A folder dropped on the window: it fills the first empty folder of the task."""
        for f in task_info(self.task()).folders:
            field = self.folder_fields[f.key]
            if not field.edit.text().strip():
                field.edit.setText(str(path))
                self.check_data()
                return True
        return False

    @Slot()
    def _on_folder_edited(self, *_args) -> None:
        self._check_result = None
        self._check_timer.start()  # typed paths are checked once the typing stops
        self._on_settings_changed()

    def _check_kwargs(self) -> dict:
        kw = {"task": self.task(), **self.folders(), "size": self.size_spin.value()}
        if self.task() == "spade":
            kw["label_set"] = self.label_set_combo.currentText().strip()
        return kw

    def check_key(self) -> tuple:
        return tuple(sorted(self._check_kwargs().items()))

    @Slot()
    def check_data(self) -> None:
        """Run the trainer's data check on the current folders in the worker (a newer check replaces an
        older one)."""
        self._check_timer.stop()
        info = task_info(self.task())
        missing = [f.label for f in info.folders if f.required and f.key not in self.folders()]
        if missing:
            self._check_key, self._check_result = None, None
            self.data_label.setText(f"Choose the {' and '.join(missing)} folder{'s' if len(missing) > 1 else ''} "
                                    "(drop it here or press …).")
            if self._pending_start:
                self._pending_start = False
            return
        self._check_key = self.check_key()
        self._check_result = None
        self.data_label.setText("Checking the data…")
        self.check_job.start(CHECK_JOB, self._check_kwargs())

    @Slot(object)
    def _on_checked(self, result: dict) -> None:
        if self._check_key != self.check_key():
            return  # the folders changed while it ran; a newer check is on its way
        self._check_result = result
        lines = [f"<b>✓ {_esc(result['summary'])}</b>"]
        lines += [f"• {_esc(n)}" for n in result.get("notes", [])]
        problems = result.get("problems", [])
        lines += [f"<span style='color:#b36b00'>• {_esc(p)}</span>" for p in problems[:4]]
        if len(problems) > 4:
            lines.append(f"… and {len(problems) - 4} more (listed in the run's data.json)")
        self.data_label.setText("<br>".join(lines))
        self.data_checked.emit(result)
        start = self._pending_start
        self._pending_start = False
        if start:
            self._emit_start()
        elif self._should_auto_estimate():
            self.estimate()

    @Slot(object)
    def _on_check_failed(self, exc) -> None:
        message = user_message(exc)
        self._check_result = {"error": message}
        self._pending_start = False
        self.data_label.setText(f"<span style='color:#c0392b'><b>✗</b> {_esc(message)}</span>")
        self.data_checked.emit({"error": message})

    def data_ok(self) -> bool:
        return (self._check_result is not None and "error" not in self._check_result
                and self._check_key == self.check_key())

    # ------------------------------------------------------------------------------------------ settings
    def _should_auto_estimate(self) -> bool:
        return self.auto_estimate if self.auto_estimate is not None else self.cuda_devices > 0

    @Slot()
    def _on_settings_changed(self, *_args) -> None:
        if self.estimate_job.is_running():
            self.estimate_job.cancel()
        if self.estimate_label.text() and not self.estimate_label.text().startswith("("):
            self.estimate_label.setText("(settings changed: Estimate again)")

    def config(self) -> dict:
        """The run's settings as TrainConfig keys (0 / empty: the recipe's default). Raises ValueError with
        a message for a field that cannot be read."""
        from ganstudio.training.config import parse_assignments

        dev, prec = self.runtime()
        nproc = self.nproc()
        if nproc > 1 and dev not in ("auto", "cuda"):
            dev = "cuda"  # one GPU per process: each rank takes its own (cuda:LOCAL_RANK)
        cfg = {"task": self.task(), **self.folders(), "size": self.size_spin.value(), "batch": self.batch_spin.value(),
               "steps": self.steps_spin.value(), "sample_every": self.sample_spin.value(),
               "checkpoint_every": self.checkpoint_spin.value(), "seed": self.seed_spin.value(),
               "metrics": self.metrics_check.isChecked(), "device": dev, "precision": prec}
        start = self.start_combo.currentData()
        if start:
            cfg["from_model"] = start
        if self.task() == "spade":
            cfg["label_set"] = self.label_set_combo.currentText().strip()
        text = self.lr_edit.text().strip()
        if text:
            try:
                cfg["lr"] = float(text)
            except ValueError:
                raise ValueError(f"the learning rate {text!r} is not a number (e.g. 0.0002 or 2e-4)") from None
        for key, edit in (("arch", self.arch_edit), ("options", self.options_edit)):
            items = [t for t in re.split(r"[\s,]+", edit.text().strip()) if t]
            try:
                cfg[key] = parse_assignments(items)
            except Exception as exc:  # InputError: "expected KEY=VALUE, not 'x'"
                raise ValueError(f"{key}: {exc}") from None
        return {k: v for k, v in cfg.items() if v not in ("", None)}

    def nproc(self) -> int:
        return self.gpus_spin.value() if self.cuda_devices > 1 else 1

    def run_name(self) -> str:
        name = self.name_edit.text().strip()
        if not name:
            name = f"{self.task()}-{time.strftime('%Y%m%d-%H%M%S')}"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"

    # ------------------------------------------------------------------------------------------ estimate
    @Slot()
    def estimate(self) -> None:
        try:
            cfg = self.config()
        except ValueError as exc:
            self.estimate_label.setText(str(exc))
            return
        if not self.data_ok():
            self.estimate_label.setText("(the estimate runs on your images: choose valid folders first)")
            return
        self.estimate_label.setText("Estimating: timing a few real steps…")
        self.estimate_job.start(ESTIMATE_JOB, {"config": cfg})

    @Slot(object)
    def _on_estimate_progress(self, p) -> None:
        self.estimate_label.setText(p.message)

    @Slot(object)
    def _on_estimated(self, e: dict) -> None:
        mem = (f"GPU memory {_mb(e['gpu_memory'])} at its peak" if e.get("gpu_memory")
               else f"weights and optimiser {_mb(e.get('state_bytes'))}")
        n = self.nproc()
        per_step = e["s_per_step"] / n if n > 1 else e["s_per_step"]  # DDP: about N times the throughput
        rate = f"{1 / per_step:.1f} steps/s" if per_step < 1 else f"{per_step:.2f} s/step"
        self.estimate_label.setText(f"≈ {rate} · {e['steps']:,} steps ≈ <b>{format_duration(per_step * e['steps'])}"
                                    f"</b> · {mem} · {e['device']}")
        self.estimate_label.setToolTip("Timed on a few of your images after one warm-up step; sampling, "
                                       "checkpoints and metrics add a little.")
        self.estimate_ready.emit(e)

    @Slot(object)
    def _on_estimate_failed(self, exc) -> None:
        message = user_message(exc)
        self.estimate_label.setText(f"<span style='color:#c0392b'>Estimate failed: {_esc(message)}</span>")
        self.estimate_ready.emit({"error": message})

    @Slot()
    def _on_estimate_cancelled(self) -> None:
        self.estimate_label.setText("(settings changed: Estimate again)")

    # ------------------------------------------------------------------------------------------ start
    @Slot()
    def request_start(self) -> None:
        """Start: at once when the data check of these folders passed; else check first and start when it
        passes (a refused folder shows its message and nothing starts)."""
        try:
            self.config()
        except ValueError as exc:
            self.data_label.setText(f"<span style='color:#c0392b'>{_esc(str(exc))}</span>")
            return
        if self.start_combo.currentData() and not self.start_combo.currentData(Qt.ItemDataRole.UserRole + 1):
            self.data_label.setText(f"<span style='color:#c0392b'>{_esc(self.start_combo.currentData())} is not on "
                                    "this machine yet: download or import it in Models › Model manager, or "
                                    "start from scratch.</span>")
            return
        if self.data_ok():
            self._emit_start()
            return
        if self._check_result is not None and "error" in self._check_result and self._check_key == self.check_key():
            return  # refused, and nothing changed since: the message is showing
        self._pending_start = True
        self.check_data()

    def _emit_start(self) -> None:
        if self.estimate_job.is_running():
            self.estimate_job.cancel()  # the run itself needs the device now
        self.start_requested.emit({"config": self.config(), "nproc": self.nproc(), "name": self.run_name()})

    def set_busy(self, busy: bool) -> None:
        """While a run trains from this window, Start is off (one run at a time here)."""
        self.start_btn.setEnabled(not busy)
        self.start_btn.setToolTip("A run is training: stop it (or let it finish) to start another" if busy
                                  else "Check the data, then start the run in a background process")

    def shutdown(self) -> None:
        self._check_timer.stop()
        for slot in (self.describe_job, self.check_job, self.estimate_job):
            slot.shutdown()


def _esc(text: str) -> str:
    import html

    return html.escape(str(text))
