"""``LossPlot``: live training curves (pyqtgraph): each loss smoothed, its raw values faint behind it, and
the metrics (FID, PSNR, SSIM …) in a second plot below that shares the step axis.

Why pyqtgraph: it draws 2000 points in about 12 ms (matplotlib's Qt canvas is ~8x slower), it is MIT
licensed and needs only numpy. The curves are created once per series and updated with ``setData``; new
points are buffered and drawn at most every ``REDRAW_MS`` (a fast run reports many steps per second, the
eye needs a few frames), with pyqtgraph's view clipping and peak downsampling for long runs.

Smoothing is the exponential moving average TensorBoard uses (with its debiasing, so the first points are
not pulled towards zero): ``SMOOTHING`` 0.9 by default, 0 shows the raw values only.
"""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

import pyqtgraph as pg  # after PySide6: pyqtgraph uses the Qt binding already loaded

REDRAW_MS = 250
SMOOTHING = 0.9
# distinguishable on light and dark backgrounds (Tableau 10)
COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")


def smooth(values: np.ndarray, weight: float = SMOOTHING) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing)."""
    values = np.asarray(values, dtype=np.float64)
    if weight <= 0 or values.size == 0:
        return values.copy()
    out = np.empty_like(values)
    last, norm = 0.0, 0.0
    for i, v in enumerate(values):
        last = last * weight + (1 - weight) * v
        norm = norm * weight + (1 - weight)
        out[i] = last / norm
    return out


class _Series:
    """One named curve: its points and the two plot items (raw faint, smoothed bold)."""

    def __init__(self, plot: pg.PlotItem, name: str, colour: str) -> None:
        self.steps: list[float] = []
        self.values: list[float] = []
        self.smoothed: list[float] = []
        self._last, self._norm = 0.0, 0.0  # the running average, so a new point costs O(1)
        raw_colour = pg.mkColor(colour)
        raw_colour.setAlpha(70)
        self.raw = plot.plot([], [], pen=pg.mkPen(raw_colour, width=1))
        self.line = plot.plot([], [], pen=pg.mkPen(colour, width=2), name=name)
        for item in (self.raw, self.line):
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")

    def add(self, step: float, value: float, weight: float) -> None:
        if not np.isfinite(value):
            return  # a nan / inf loss would blank the curve; the log pane shows it
        self.steps.append(float(step))
        self.values.append(float(value))
        self._last = self._last * weight + (1 - weight) * value
        self._norm = self._norm * weight + (1 - weight)
        self.smoothed.append(self._last / self._norm if self._norm else value)

    def resmooth(self, weight: float) -> None:
        self.smoothed = smooth(np.asarray(self.values), weight).tolist()
        self._last, self._norm = 0.0, 0.0
        for v in self.values:
            self._last = self._last * weight + (1 - weight) * v
            self._norm = self._norm * weight + (1 - weight)

    def draw(self) -> None:
        x = np.asarray(self.steps)
        self.raw.setData(x, np.asarray(self.values))
        self.line.setData(x, np.asarray(self.smoothed))


class LossPlot(QWidget):
    """``add_losses(step, {name: value})``, ``add_metrics(step, {name: value})``, ``set_history(...)``,
    ``clear()``. ``series(name)`` gives (steps, raw, smoothed) of a curve (tests, export)."""

    def __init__(self, parent: Optional[QWidget] = None, smoothing: float = SMOOTHING) -> None:
        super().__init__(parent)
        self.smoothing = float(smoothing)
        pg.setConfigOptions(antialias=True)
        self.view = pg.GraphicsLayoutWidget(self)
        self.view.setBackground(None)  # the window's own background (light and dark themes)
        self.loss_plot = self.view.addPlot(row=0, col=0)
        self.metric_plot = self.view.addPlot(row=1, col=0)
        for plot, title in ((self.loss_plot, "losses"), (self.metric_plot, "metrics")):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("left", title)
            plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
            plot.setMenuEnabled(False)
        self.metric_plot.setXLink(self.loss_plot)
        self.metric_plot.setLabel("bottom", "step")
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 1)
        self.metric_plot.setVisible(False)  # until the first metric arrives
        self._losses: dict[str, _Series] = {}
        self._metrics: dict[str, _Series] = {}
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)

    # ------------------------------------------------------------------------------------------ data
    def _series(self, table: dict, plot: pg.PlotItem, name: str) -> _Series:
        s = table.get(name)
        if s is None:
            n = len(self._losses) + len(self._metrics)
            s = table[name] = _Series(plot, name, COLOURS[n % len(COLOURS)])
        return s

    def add_losses(self, step: float, losses: dict) -> None:
        for name, value in (losses or {}).items():
            if isinstance(value, (int, float)):
                self._series(self._losses, self.loss_plot, name).add(step, value, self.smoothing)
        self._schedule()

    def add_metrics(self, step: float, metrics: dict) -> None:
        added = False
        for name, value in (metrics or {}).items():
            if isinstance(value, (int, float)):
                self._series(self._metrics, self.metric_plot, name).add(step, value, self.smoothing)
                added = True
        if added and not self.metric_plot.isVisible():
            self.metric_plot.setVisible(True)
        self._schedule()

    def set_history(self, losses: dict, metrics: dict) -> None:
        """Replace everything with a run's logged history: {name: [[step, value], ...]}."""
        self.clear()
        for table, add in ((losses, self.add_losses), (metrics, self.add_metrics)):
            for name, points in (table or {}).items():
                for step, value in points:
                    add(step, {name: value})
        self.redraw()

    def clear(self) -> None:
        for plot in (self.loss_plot, self.metric_plot):
            plot.clear()
            if plot.legend is not None:
                plot.legend.clear()
        self._losses.clear()
        self._metrics.clear()
        self.metric_plot.setVisible(False)
        self._dirty = False

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = float(weight)
        for s in list(self._losses.values()) + list(self._metrics.values()):
            s.resmooth(self.smoothing)
        self.redraw()

    def names(self) -> tuple[list[str], list[str]]:
        return list(self._losses), list(self._metrics)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self._losses.get(name) or self._metrics[name]
        return np.asarray(s.steps), np.asarray(s.values), np.asarray(s.smoothed)

    def point_count(self) -> int:
        return sum(len(s.steps) for s in list(self._losses.values()) + list(self._metrics.values()))

    # ------------------------------------------------------------------------------------------ drawing
    def _schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def redraw(self) -> None:
        self._timer.stop()
        self._dirty = False
        for s in self._all():
            s.draw()

    def _all(self) -> Iterable[_Series]:
        return list(self._losses.values()) + list(self._metrics.values())

    def drawn_points(self, name: str) -> int:
        """How many points the smoothed curve of ``name`` shows now (tests: the plot really updated)."""
        s = self._losses.get(name) or self._metrics[name]
        x, _y = s.line.getOriginalDataset()
        return 0 if x is None else len(x)
