"""The line chart's axis: tick labels are distinct whatever the span."""

from __future__ import annotations

import pytest

from cai_desktop.ui.widgets.chart import LineChart, tick_labels


@pytest.mark.parametrize("lo, hi", [
    (2.4101, 2.4109),  # an entropy that barely moves: every tick read "2.41"
    (2.40, 2.42), (0.0, 1.0), (-1.0, 1.0), (0.0, 100.0), (100.0, 2000.0),
    (1e-5, 3e-5), (1e6, 1.0001e6), (-0.001, 0.001), (0.5, 0.5001),
])
def test_tick_labels_are_distinct_and_close_to_their_ticks(lo, hi):
    labels = tick_labels(lo, hi, 5)
    assert len(set(labels)) == 5, labels
    step = (hi - lo) / 4
    for i, text in enumerate(labels):
        assert float(text) == pytest.approx(lo + step * i, abs=step * 0.05), labels


def test_decimals_follow_the_span_not_the_size():
    assert tick_labels(2.4101, 2.4109) == ["2.4101", "2.4103", "2.4105", "2.4107", "2.4109"]
    assert tick_labels(0, 100) == ["0", "25", "50", "75", "100"]


def test_a_barely_moving_series_paints(qtbot):
    chart = LineChart("entropy")
    qtbot.addWidget(chart)
    chart.set_series("entropy", [(i, 2.4101 + i * 1e-4) for i in range(9)])
    chart.resize(360, 200)
    assert not chart.grab().isNull()
