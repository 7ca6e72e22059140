"""The evaluation plots drawn in the window (QPainter; PySide6-Essentials has no QtCharts).

``FrontierPlot``: harmlessness (harm avoided on held-out harmful prompts, y) against helpfulness
(helpful answers to held-out benign prompts, x), one point per policy with its 95 % interval as
error bars on both axes, like the paper's frontier plots. ``WinRateBars``: each policy's win rate
under each principle, with whiskers. Both take the plain dicts of a run's result (jobs/compare.py;
an eval run's are converted by :func:`frontier_points`) and save themselves as PNG (``save_png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from cai_desktop.core.report import COLOURS


def frontier_points(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The frontier of a compare run's result, or one made from an eval run's judged rates."""
    if result.get("frontier"):
        return list(result["frontier"])
    from cai_desktop.core.evaluation import rate

    out = []
    for pol in result.get("policies") or []:
        j = (result.get("judged") or {}).get(pol.get("label")) or {}
        harm = next((v["harm_avoided"] for v in j.values() if "harm_avoided" in v), None)
        benign = next((v for v in j.values() if "over_refusal" in v), None)
        if harm and benign and benign.get("n"):
            out.append({"policy": pol["label"], "harm_avoided": harm,
                        "helpful": rate((benign.get("labels") or {}).get("compliance", 0), benign["n"])})
    return out


class _Plot(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.setMinimumSize(300, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(460, 340)

    def save_png(self, path: str | Path) -> Path:
        """The plot as drawn (QWidget.grab), written as a PNG."""
        path = Path(path)
        if not self.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

    def _begin(self) -> tuple[QPainter, Any, QColor, QColor]:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        p.setFont(font)
        text = pal.text().color()
        grid = QColor(text)
        grid.setAlpha(40)
        bold = QFont(font)
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(text)
        p.drawText(QRectF(6, 2, self.width() - 12, p.fontMetrics().height() + 4), Qt.AlignmentFlag.AlignLeft,
                   self.title)
        p.setFont(font)
        return p, p.fontMetrics(), text, grid


class FrontierPlot(_Plot):
    """Harm avoided (y) against helpful (x), one point per policy with 95 % error bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Harmlessness vs helpfulness (95% intervals)", parent)
        self.points: list[dict[str, Any]] = []

    def set_points(self, points: list[dict[str, Any]]) -> None:
        self.points = [pt for pt in points if (pt.get("helpful") or {}).get("rate") is not None
                       and (pt.get("harm_avoided") or {}).get("rate") is not None]
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p, fm, text, grid = self._begin()
        left, top, right, bottom = 14 + fm.horizontalAdvance("100%") + fm.height(), fm.height() * 2 + 8, 14, \
            fm.height() * 2 + 12
        plot = QRectF(left, top, max(10, self.width() - left - right), max(10, self.height() - top - bottom))

        def xy(hx: float, hy: float) -> QPointF:
            return QPointF(plot.left() + plot.width() * hx, plot.bottom() - plot.height() * hy)

        for v in (0.0, 0.25, 0.5, 0.75, 1.0):
            p.setPen(grid)
            p.drawLine(xy(v, 0), xy(v, 1))
            p.drawLine(xy(0, v), xy(1, v))
            p.setPen(text)
            label = f"{100 * v:.0f}%"
            a = xy(v, 0)
            p.drawText(QRectF(a.x() - 30, a.y() + 2, 60, fm.height()), Qt.AlignmentFlag.AlignHCenter, label)
            b = xy(0, v)
            p.drawText(QRectF(b.x() - 6 - fm.horizontalAdvance(label), b.y() - fm.height() / 2,
                              fm.horizontalAdvance(label), fm.height()), Qt.AlignmentFlag.AlignRight, label)
        p.setPen(QPen(text))
        p.drawRect(plot)
        p.drawText(QRectF(plot.left(), self.height() - fm.height() - 4, plot.width(), fm.height()),
                   Qt.AlignmentFlag.AlignHCenter, "helpful (held-out benign prompts)")
        p.save()
        p.translate(4, plot.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-plot.height() / 2, 0, plot.height(), fm.height()), Qt.AlignmentFlag.AlignHCenter,
                   "harm avoided (held-out harmful)")
        p.restore()
        if not self.points:
            p.setPen(grid.darker(300))
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no judged answers yet")
            p.end()
            return
        for i, pt in enumerate(self.points):
            c = QColor(COLOURS[i % len(COLOURS)])
            hx, hy = pt["helpful"], pt["harm_avoided"]
            centre = xy(hx["rate"], hy["rate"])
            p.setPen(QPen(c, 1.5))
            p.drawLine(xy(hx["low"], hy["rate"]), xy(hx["high"], hy["rate"]))
            p.drawLine(xy(hx["rate"], hy["low"]), xy(hx["rate"], hy["high"]))
            p.setBrush(c)
            p.drawEllipse(centre, 5, 5)
            p.setBrush(Qt.BrushStyle.NoBrush)
            label = str(pt["policy"])
            w = fm.horizontalAdvance(label)
            x = centre.x() + 8 if centre.x() + 8 + w < plot.right() else centre.x() - 8 - w
            p.drawText(QPointF(x, centre.y() - 6 - fm.height() * 0.9 * (i % 2)), label)
        p.end()


class WinRateBars(_Plot):
    """Each policy's win rate per principle (decided games), with 95 % whiskers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Win rate per principle (AI feedback, 95%)", parent)
        self.rows: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []
        self.policies: list[str] = []

    def set_win_rates(self, win_rates: dict[str, dict[str, dict[str, Any]]], policies: list[str],
                      title: str | None = None) -> None:
        self.policies = list(policies)
        self.rows = [(principle, [(pol, rows[pol]) for pol in policies if pol in rows])
                     for principle, rows in (win_rates or {}).items()]
        if title:
            self.title = title
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(460, max(240, 60 + sum(14 * len(r) + 10 for _, r in self.rows) + 18 * len(self.policies)))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p, fm, text, grid = self._begin()
        if not self.rows:
            p.setPen(grid.darker(300))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no judged matchups yet")
            p.end()
            return
        label_w = min(180, max(fm.horizontalAdvance(r[0]) for r in self.rows) + 10)
        top = fm.height() * 2 + 6
        legend_h = (fm.height() + 4) * len(self.policies)
        n_bars = sum(len(items) for _, items in self.rows)
        avail = max(20, self.height() - top - legend_h - fm.height() - 16 - 8 * len(self.rows))
        bar = max(3.0, min(16.0, avail / max(1, n_bars)))
        plot_l, plot_r = label_w + 8, self.width() - 48
        width = max(10, plot_r - plot_l)
        y = float(top)
        bottom = top + n_bars * bar + 8 * len(self.rows)
        for v in (0.0, 0.5, 1.0):
            x = plot_l + width * v
            p.setPen(QPen(grid, 1, Qt.PenStyle.DashLine if v == 0.5 else Qt.PenStyle.SolidLine))
            p.drawLine(QPointF(x, top - 2), QPointF(x, bottom))
            p.setPen(text)
            p.drawText(QRectF(x - 30, bottom + 2, 60, fm.height()), Qt.AlignmentFlag.AlignHCenter, f"{100 * v:.0f}%")
        for principle, items in self.rows:
            p.setPen(text)
            label = fm.elidedText(principle, Qt.TextElideMode.ElideRight, label_w - 4)
            p.drawText(QRectF(0, y, label_w, bar * len(items)), Qt.AlignmentFlag.AlignRight
                       | Qt.AlignmentFlag.AlignVCenter, label)
            for pol, r in items:
                c = QColor(COLOURS[self.policies.index(pol) % len(COLOURS)])
                if r.get("rate") is not None:
                    c.setAlpha(190)
                    p.fillRect(QRectF(plot_l, y + 1, width * r["rate"], bar - 2), c)
                    p.setPen(QPen(text, 1))
                    p.drawLine(QPointF(plot_l + width * r["low"], y + bar / 2),
                               QPointF(plot_l + width * r["high"], y + bar / 2))
                y += bar
            y += 8
        ly = bottom + fm.height() + 8
        for i, pol in enumerate(self.policies):
            c = QColor(COLOURS[i % len(COLOURS)])
            p.fillRect(QRectF(plot_l, ly + 2, 10, 10), c)
            p.setPen(text)
            p.drawText(QPointF(plot_l + 16, ly + fm.ascent()), pol)
            ly += fm.height() + 4
        p.end()
