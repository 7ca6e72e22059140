"""A small QPainter line chart (PySide6-Essentials has no QtCharts): series of (step, value)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PALETTE = ("#2f6fb3", "#d1603d", "#3a9a5b", "#8a5ab8", "#c49a1a", "#3aa3a8")


def _nice(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def tick_labels(lo: float, hi: float, n: int = 5) -> list[str]:
    """Labels for ``n`` evenly spaced ticks from ``lo`` to ``hi``, all distinct.

    The number of decimals follows the spacing of the ticks, not the size of the values: an
    entropy axis from 2.4101 to 2.4109 printed every tick as 2.41. Very large or very small
    values use scientific notation with as many digits as the spacing needs.
    """
    if n <= 1:
        return [_nice(lo)]
    values = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    step = abs(hi - lo) / (n - 1)
    big = max(abs(lo), abs(hi))
    if step == 0:
        return [_nice(v) for v in values]
    scientific = big >= 1e6 or big < 1e-3
    if scientific:
        # significant digits: enough that the step shows in the mantissa
        digits = max(1, int(math.floor(math.log10(big))) - int(math.floor(math.log10(step))) + 1)
        for d in range(digits, digits + 8):
            labels = [f"{v:.{d}e}" for v in values]
            if len(set(labels)) == n:
                return labels
        return labels
    decimals = max(0, -int(math.floor(math.log10(step))))
    for d in range(decimals, decimals + 8):
        labels = [f"{v:.{d}f}" for v in values]
        labels = ["0" if float(x) == 0 else x for x in labels]  # no "-0.00"
        # distinct, and no label off its tick by more than a twentieth of the spacing (0.25 → "0.25")
        if len(set(labels)) == n and max(abs(float(x) - v) for x, v in zip(labels, values)) <= step * 0.05:
            return labels
    return labels


class LineChart(QWidget):
    """Draws one or more series; ``add_point`` appends and schedules a repaint (coalesced by Qt)."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.colors: dict[str, QColor] = {}
        self.setMinimumSize(220, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(360, 200)

    def clear(self) -> None:
        self.series.clear()
        self.update()

    def set_series(self, name: str, points: list[tuple[float, float]]) -> None:
        self.series[name] = [(float(x), float(y)) for x, y in points if y is not None and math.isfinite(y)]
        self._color(name)
        self.update()

    def add_point(self, name: str, x: float, y: float) -> None:
        if y is None or not math.isfinite(y):
            return
        self.series.setdefault(name, []).append((float(x), float(y)))
        self._color(name)
        self.update()

    def point_count(self) -> int:
        return sum(len(p) for p in self.series.values())

    def _color(self, name: str) -> QColor:
        if name not in self.colors:
            self.colors[name] = QColor(PALETTE[len(self.colors) % len(PALETTE)])
        return self.colors[name]

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        fm = p.fontMetrics()
        text_color = pal.text().color()
        grid = QColor(text_color)
        grid.setAlpha(40)

        left, top, right, bottom = 52, fm.height() + 8, 10, fm.height() + 8
        plot = QRectF(left, top, max(10, self.width() - left - right), max(10, self.height() - top - bottom))
        p.setPen(text_color)
        title = self.title
        if len(self.series) > 1 or (self.series and next(iter(self.series)) != self.title):
            title = self.title
        p.drawText(QRectF(4, 2, self.width() - 8, fm.height() + 4), Qt.AlignmentFlag.AlignLeft, title)

        pts = [pt for s in self.series.values() for pt in s]
        if not pts:
            p.setPen(grid.darker(300))
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no data yet")
            p.end()
            return
        xs = [x for x, _ in pts]
        ys = [y for _, y in pts]
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x0, x1 = x0 - 1, x1 + 1
        if y1 == y0:
            pad = abs(y0) * 0.1 or 1.0
            y0, y1 = y0 - pad, y1 + pad
        else:
            pad = (y1 - y0) * 0.05
            y0, y1 = y0 - pad, y1 + pad
        # the left margin fits the widest y label (small values print as 6.40e-05)
        y_labels = tick_labels(y0, y1, 5)
        left = max(left, 10 + max(fm.horizontalAdvance(t) for t in y_labels))
        plot = QRectF(left, top, max(10, self.width() - left - right), max(10, self.height() - top - bottom))

        def to_px(x: float, y: float) -> QPointF:
            return QPointF(
                plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                plot.bottom() - (y - y0) / (y1 - y0) * plot.height(),
            )

        # grid and axis labels
        p.setPen(QPen(grid, 1))
        for i in range(5):
            y = y0 + (y1 - y0) * i / 4
            py = to_px(x0, y).y()
            p.drawLine(QPointF(plot.left(), py), QPointF(plot.right(), py))
        p.setPen(text_color)
        for i in range(5):
            y = y0 + (y1 - y0) * i / 4
            py = to_px(x0, y).y()
            p.drawText(QRectF(0, py - fm.height() / 2, left - 6, fm.height()),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, y_labels[i])
        for frac, align in ((0.0, Qt.AlignmentFlag.AlignLeft), (1.0, Qt.AlignmentFlag.AlignRight)):
            x = x0 + (x1 - x0) * frac
            px = to_px(x, y0).x()
            rect = QRectF(px - 60 if frac else px, plot.bottom() + 2, 60, fm.height())
            p.drawText(rect, align, _nice(x) if abs(x - round(x)) > 1e-9 else str(int(round(x))))

        # series
        for name, points in self.series.items():
            if not points:
                continue
            color = self._color(name)
            p.setPen(QPen(color, 1.8))
            pts_sorted = sorted(points)
            if len(pts_sorted) == 1:
                p.setBrush(color)
                p.drawEllipse(to_px(*pts_sorted[0]), 3, 3)
                continue
            path = QPainterPath(to_px(*pts_sorted[0]))
            # thin out very long series to about one point per pixel
            step = max(1, len(pts_sorted) // max(1, int(plot.width())))
            for pt in pts_sorted[1::step]:
                path.lineTo(to_px(*pt))
            path.lineTo(to_px(*pts_sorted[-1]))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)

        # legend (only when several series share the chart)
        if len(self.series) > 1:
            x = plot.left() + 6
            for name in self.series:
                color = self._color(name)
                p.fillRect(QRectF(x, top + 4, 10, 3), color)
                p.setPen(text_color)
                w = fm.horizontalAdvance(name)
                p.drawText(QPointF(x + 14, top + 4 + fm.ascent() / 2), name)
                x += w + 26
        else:
            last = next(iter(self.series.values()))
            if last:
                p.setPen(text_color)
                txt = f"last {_nice(sorted(last)[-1][1])}"
                p.drawText(QRectF(plot.left(), 2, plot.width(), fm.height() + 4),
                           Qt.AlignmentFlag.AlignRight, txt)
        p.end()
