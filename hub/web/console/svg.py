"""Charts as inline SVG, drawn on the server: bars per time bucket (stacked by series) and small
sparklines. No chart library and no script: the page carries the drawing, coloured by console.css
through classes (the console's Content-Security-Policy allows no inline style), and described for
screen readers (``role="img"`` with a ``<title>`` and a ``<desc>`` that give the totals)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 30, 18, 26


@dataclass(frozen=True)
class Series:
    """One stacked part of every bar: its legend text, its bars' CSS class and a value per bucket."""

    name: str
    css: str
    values: Sequence[int]


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… at least ``value``: the top of a chart's scale."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return int(next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value))


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], *,
              label_every: int = 1, names: Sequence[str] | None = None) -> Markup:
    """Stacked bars, one per label (a time bucket), with a value scale on the left and every
    ``label_every``-th label under its bar, counted from the last (the newest bucket is always
    labelled); hovering a bar shows its ``names`` entry (its label by default) and its numbers."""
    count = len(labels)
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    top = nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)
    bar = slot * 0.72
    summary = "; ".join(f"{s.name}: {sum(s.values)}" for s in series)
    parts = [Markup('<svg class="chart" id="{0}" viewBox="0 0 {1} {2}" role="img" '
                    'aria-labelledby="{0}-title {0}-desc"><title id="{0}-title">{3}</title>'
                    '<desc id="{0}-desc">Totals: {4}.</desc><g class="axis">').format(
                        chart_id, WIDTH, HEIGHT, title, summary)]
    for value in (0, top / 2, top):
        y = TOP + plot_h - plot_h * value / top
        parts.append(Markup('<line x1="{}" x2="{}" y1="{}" y2="{}"/><text x="{}" y="{}" text-anchor="end">{}</text>')
                     .format(LEFT, WIDTH - RIGHT, _n(y), _n(y), LEFT - 6, _n(y + 4), _n(value)))
    parts.append(Markup("</g>"))
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar) / 2
        numbers = ", ".join(f"{s.name} {s.values[i]}" for s in series)
        parts.append(Markup("<g><title>{}: {}</title>").format((names or labels)[i], numbers))
        bottom = TOP + plot_h
        for s in series:
            height = plot_h * s.values[i] / top
            if height > 0:
                bottom -= height
                parts.append(_rect(s.css, x, bottom, bar, height))
        if not totals[i]:     # an empty bucket is still a target to hover
            parts.append(_rect("empty", x, TOP, bar, plot_h))
        parts.append(Markup("</g>"))
        if (count - 1 - i) % label_every == 0:
            parts.append(Markup('<text class="label" x="{}" y="{}" text-anchor="middle">{}</text>').format(
                _n(x + bar / 2), HEIGHT - 8, label))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def sparkline(values: Sequence[int], label: str, css: str = "bar-events") -> Markup:
    """A small bar per value, scaled to the largest: a trend at a glance, named by ``label``."""
    width, height = 96, 24
    top = max(values, default=0) or 1
    slot = width / max(len(values), 1)
    rects = Markup("").join(_rect(css, slot * i, height - height * v / top, max(slot - 1, 1), height * v / top)
                            for i, v in enumerate(values) if v)
    return Markup('<svg class="sparkline" viewBox="0 0 {0} {1}" width="{0}" height="{1}" role="img" '
                  'aria-label="{2}"><line x1="0" x2="{0}" y1="{3}" y2="{3}"/>{4}</svg>').format(
                      width, height, label, _n(height - 0.5), rects)


def _rect(css: str, x: float, y: float, width: float, height: float) -> Markup:
    return Markup('<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>').format(
        css, _n(x), _n(y), _n(width), _n(height))
