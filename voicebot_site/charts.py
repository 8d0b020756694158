"""The admin's charts of the last hours: a bar per hour, stacked segments, drawn by the server as SVG.

The geometry is computed here and drawn by ``templates/admin/hourly_chart.html``
(no script on the page): the error dashboard stacks a segment per category, the
assistants' analytics draws one segment, the hour's turns.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CHART_WIDTH = 760
CHART_HEIGHT = 220
PLOT_LEFT = 48
PLOT_BOTTOM = 24
PLOT_TOP = 10
# An hour's label under every third bar.
TICK_EVERY = 3


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of an hour's bar: its size, colour and tooltip."""

    count: int
    colour: str
    label: str


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


def hourly_chart(hours: Sequence[tuple[datetime, Sequence[Segment]]], *, top: int) -> dict[str, Any]:
    """The template's context: one bar per hour (its segments stacked from the baseline), ``top`` the axis maximum."""
    plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    slot = (CHART_WIDTH - PLOT_LEFT) / max(len(hours), 1)
    bars: list[Bar] = []
    ticks: list[dict[str, Any]] = []
    for index, (hour, segments) in enumerate(hours):
        x = PLOT_LEFT + index * slot + 2
        base = CHART_HEIGHT - PLOT_BOTTOM
        for segment in segments:
            height = plot_height * segment.count / top
            base -= height
            bars.append(Bar(x=round(x, 1), y=round(base, 1), width=round(slot - 4, 1), height=round(height, 1),
                            colour=segment.colour, label=segment.label))
        if index % TICK_EVERY == 0:
            ticks.append({"x": round(x + (slot - 4) / 2, 1), "label": f"{hour:%H:00}"})
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot_left": PLOT_LEFT,
        "baseline": CHART_HEIGHT - PLOT_BOTTOM,
        "plot_top": PLOT_TOP,
        "label_y": CHART_HEIGHT - 6,
        "top": top,
        "bars": bars,
        "ticks": ticks,
    }
