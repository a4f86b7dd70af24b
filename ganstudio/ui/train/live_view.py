"""The Train tab's live view of one run: its state and controls, step / it/s / ETA / GPU memory, the loss
and metric curves, the newest sample grid, and a log pane.

It only shows what it is given (``show_progress``, ``show_sample``, ``set_history``, ``log``); the panel
decides which run it follows. Pause / Resume / Stop and the "use the result" buttons emit signals."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.progress import format_eta
from ganstudio.ui.widgets.image_view import ImageView
from ganstudio.ui.widgets.loss_plot import LossPlot

MAX_LOG_LINES = 5000


def _stat(text: str, tip: str) -> QLabel:
    label = QLabel(text)
    label.setToolTip(tip)
    label.setMinimumWidth(70)
    return label


class LiveView(QWidget):
    pause_clicked = Signal()
    resume_clicked = Signal()
    stop_clicked = Signal()
    use_clicked = Signal()
    export_clicked = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.run_path = ""
        self.sample_step = -1
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)

        head = QHBoxLayout()
        self.title = QLabel("No run yet", self)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.state_label = QLabel("Set up a run on the left and press Start training.", self)
        self.state_label.setWordWrap(True)
        self.state_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.use_btn = QPushButton("Use in …", self)
        self.use_btn.setToolTip("Put the trained generator in your model library and open it in its tab")
        self.use_btn.clicked.connect(self.use_clicked)
        self.export_btn = QPushButton("Export…", self)
        self.export_btn.setToolTip("Write the generator files in the official layout, or one safetensors file")
        self.export_btn.clicked.connect(self.export_clicked)
        head.addWidget(self.title)
        head.addSpacing(12)
        head.addWidget(self.state_label, 1)
        head.addWidget(self.use_btn)
        head.addWidget(self.export_btn)
        root.addLayout(head)

        stats = QHBoxLayout()
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(14)
        self.step_label = _stat("step –", "Steps done of the run's total")
        self.rate_label = _stat("– it/s", "Training steps per second (over the last second)")
        self.eta_label = _stat("ETA –", "Time left at the current pace")
        self.memory_label = _stat("", "Peak GPU memory of the training process")
        self.pause_btn = QPushButton("Pause", self)
        self.pause_btn.setToolTip("Pause between two steps (nothing is lost; Resume goes on)")
        self.pause_btn.clicked.connect(self.pause_clicked)
        self.resume_btn = QPushButton("Resume", self)
        self.resume_btn.clicked.connect(self.resume_clicked)
        self.stop_btn = QPushButton("Stop", self)
        self.stop_btn.setToolTip("Stop after the current step and write a checkpoint (resume it any time)")
        self.stop_btn.clicked.connect(self.stop_clicked)
        stats.addWidget(self.bar, 2)
        for w in (self.step_label, self.rate_label, self.eta_label, self.memory_label):
            stats.addWidget(w)
        stats.addWidget(self.pause_btn)
        stats.addWidget(self.resume_btn)
        stats.addWidget(self.stop_btn)
        root.addLayout(stats)

        self.split = QSplitter(Qt.Orientation.Vertical, self)
        top = QSplitter(Qt.Orientation.Horizontal, self.split)
        self.plot = LossPlot(top)
        samples = QWidget(top)
        sl = QVBoxLayout(samples)
        sl.setContentsMargins(0, 0, 0, 0)
        self.sample_caption = QLabel("Samples", samples)
        self.sample_caption.setToolTip("The same fixed inputs (seeds or held-out images) every time, so the "
                                       "change is what training did")
        self.sample_view = ImageView(samples)
        self.sample_view.set_placeholder("The sample grid appears here every few steps")
        sl.addWidget(self.sample_caption)
        sl.addWidget(self.sample_view, 1)
        top.addWidget(self.plot)
        top.addWidget(samples)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([520, 380])
        self.log_view = QPlainTextEdit(self.split)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.log_view.setPlaceholderText("Data notes, messages and errors of the run")
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSizeF(max(8.0, self.font().pointSizeF() * 0.9))
        self.log_view.setFont(mono)
        self.split.addWidget(top)
        self.split.addWidget(self.log_view)
        self.split.setStretchFactor(0, 4)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([540, 120])
        root.addWidget(self.split, 1)
        self.set_controls(running=False, paused=False, can_pause=False)
        self.set_result(None)

    # ------------------------------------------------------------------------------------------ content
    def show_run(self, path: str, title: str, state_text: str) -> None:
        """Follow another run: clear what belonged to the previous one."""
        if path != self.run_path:
            self.run_path = path
            self.sample_step = -1
            self.plot.clear()
            self.sample_view.set_image(None)
            self.sample_caption.setText("Samples")
            self.log_view.clear()
            self.bar.setValue(0)
            self.step_label.setText("step –")
            self.rate_label.setText("– it/s")
            self.eta_label.setText("ETA –")
            self.memory_label.setText("")
        self.title.setText(title)
        self.state_label.setText(state_text)

    def set_state(self, text: str) -> None:
        self.state_label.setText(text)

    def show_progress(self, p) -> None:
        """One progress report of the followed run."""
        extra = p.extra or {}
        step = extra.get("step")
        if p.total:
            self.bar.setValue(int(1000 * max(0.0, min(1.0, p.done / p.total))))
        if isinstance(step, (int, float)):
            self.step_label.setText(f"step {int(step):,} / {int(p.total):,}")
        if extra.get("losses") and isinstance(step, (int, float)):
            self.plot.add_losses(step, extra["losses"])
        if extra.get("metrics") and isinstance(step, (int, float)):
            self.plot.add_metrics(step, extra["metrics"])
        it_s = extra.get("it_s")
        if isinstance(it_s, (int, float)) and it_s > 0:
            self.rate_label.setText(f"{it_s:.2f} it/s" if it_s < 100 else f"{it_s:.0f} it/s")
        if "eta_s" in extra:
            self.eta_label.setText(f"ETA {format_eta(extra['eta_s'])}")
        mem = extra.get("gpu_memory")
        if isinstance(mem, (int, float)) and mem > 0:
            self.memory_label.setText(f"GPU {mem / 2 ** 30:.2f} GB")
        for line in extra.get("messages") or []:
            self.log(line)
        if extra.get("phase") == "data" and extra.get("data"):
            self.log(f"data: {extra['data']}")
            for note in extra.get("notes") or []:
                self.log(f"data: {note}")
        if "checkpoint" in extra:
            metrics = extra.get("metrics") or {}
            text = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
            self.log(f"checkpoint at step {extra['checkpoint']}" + (f" ({text})" if text else ""))

    def show_sample(self, image, step: int) -> None:
        first = self.sample_step < 0
        self.sample_step = int(step)
        self.sample_view.set_image(image, keep_view=not first)
        self.sample_caption.setText(f"Samples at step {int(step):,} (fixed inputs)")

    def set_history(self, losses: dict, metrics: dict) -> None:
        self.plot.set_history(losses, metrics)

    def log(self, line: str) -> None:
        self.log_view.appendPlainText(line.rstrip())
        self.log_view.moveCursor(QTextCursor.MoveOperation.End)

    # ------------------------------------------------------------------------------------------ controls
    def set_controls(self, running: bool, paused: bool, can_pause: bool) -> None:
        self.pause_btn.setEnabled(running and can_pause and not paused)
        self.resume_btn.setEnabled(running and can_pause and paused)
        self.stop_btn.setEnabled(running)
        self.bar.setVisible(True)

    def set_result(self, tab: Optional[str], finished: bool = False) -> None:
        """The "Use in <tab>" / Export buttons for the shown run (enabled once it has a final model)."""
        self.use_btn.setText(f"Use in {tab}" if tab else "Use in …")
        self.use_btn.setEnabled(bool(tab) and finished)
        self.export_btn.setEnabled(finished)
