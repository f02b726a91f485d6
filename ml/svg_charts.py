"""Inline SVG charts without a plotting library: line charts and horizontal bar charts as plain strings.

Every data mark is a `<path class="data" d="...">`, so a test can check that a chart drew something.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

WIDTH, HEIGHT = 560, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 40, 48
MAX_CURVE_POINTS = 400
BAR_COLOR = "#1f6fb2"
LEGEND_CORNERS = ("top-left", "bottom-right")
LABEL_CHAR_WIDTH = 6.6  # px per character of an 11 px label, wide fonts (DejaVu Sans) included
TITLE_CHAR_WIDTH = 8.4  # px per character of the 13 px bold title, the same wide fonts included
MAX_BAR_LABEL = 60  # characters of a bar's label; a longer one is cut


def fmt(value: float) -> str:
    """Return a short label for a number."""
    if abs(value) >= 999.5:  # below, three significant digits; from 999.5 they would round to 1e+03
        return f"{value:,.0f}"
    return f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """Return round ticks (steps of 1, 2, 2.5 or 5 x 10^k) over [low, high] in about `count` steps."""
    span = high - low if high > low else 1.0
    magnitude = 10 ** math.floor(math.log10(span / count))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10)), key=lambda step: abs(span / step - count))
    first = math.ceil(low / step - 1e-9) * step
    return np.arange(first, high + step * 1e-6, step)


def thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return at most MAX_CURVE_POINTS evenly spaced points of a curve, both ends kept."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) <= MAX_CURVE_POINTS:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, MAX_CURVE_POINTS).round().astype(int))
    return x[keep], y[keep]


def svg(width: int, height: int, title: str, body: list[str]) -> str:
    """Return an <svg> element with a title line and the given body."""
    head = f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
    return "\n".join([head, f'<text class="title" x="12" y="22">{escape(title)}</text>', *body, "</svg>"])


def _polyline(xs: np.ndarray, ys: np.ndarray) -> str:
    """Return the d attribute of a polyline through the points."""
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def _axes(
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    x_ticks: np.ndarray,
    x_label: str,
    y_label: str,
) -> list[str]:
    """Return the grid, tick labels, frame and axis titles of a plot area."""
    (x0, x1), (y0, y1) = x_range, y_range
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = []
    for tick in x_ticks:
        x = LEFT + (tick - x0) / (x1 - x0) * plot_w
        body.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}"/>')
        body.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 15}" text-anchor="middle">{fmt(tick)}</text>')
    for tick in nice_ticks(y0, y1):
        y = TOP + plot_h - (tick - y0) / (y1 - y0) * plot_h
        body.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}"/>')
        body.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(tick)}</text>')
    body.append(f'<rect class="axis" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>')
    body.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">{escape(x_label)}</text>'
    )
    body.append(
        f'<text transform="translate(14,{TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    return body


def line_chart(
    title: str,
    series: Sequence[Mapping[str, Any]],
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] | None = None,
    x_ticks: Sequence[float] | None = None,
    legend: str = "top-left",
) -> str:
    """Return an SVG line chart; each series is {name, x, y, color, dashed?, markers?}."""
    if legend not in LEGEND_CORNERS:
        raise ValueError(f"legend must be one of {LEGEND_CORNERS}, not {legend!r}")
    if y_range is None:
        top = max(float(np.nanmax(s["y"])) for s in series)
        step = float(np.diff(nice_ticks(0.0, top))[0]) if top > 0 else 0.2
        y_range = (0.0, math.ceil(top / step - 1e-9) * step if top > 0 else 1.0)
    (x0, x1), (y0, y1) = x_range, y_range
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    ticks = np.asarray(x_ticks, dtype=float) if x_ticks is not None else nice_ticks(x0, x1)
    body = _axes(x_range, y_range, ticks, x_label, y_label)
    for i, s in enumerate(series):
        xs = LEFT + (np.asarray(s["x"], dtype=float) - x0) / (x1 - x0) * plot_w
        ys = TOP + plot_h - (np.asarray(s["y"], dtype=float) - y0) / (y1 - y0) * plot_h
        dash = ' stroke-dasharray="5,4"' if s.get("dashed") else ""
        stroke = f'stroke="{s["color"]}" stroke-width="2"{dash}'
        body.append(f'<path class="data" d="{_polyline(xs, ys)}" fill="none" {stroke}/>')
        if s.get("markers"):
            body += [
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s["color"]}"/>'
                for x, y in zip(xs, ys, strict=True)
            ]
        if legend == "top-left":
            lx, ly = LEFT + 10, TOP + 14 + 16 * i
        else:
            lx, ly = LEFT + plot_w - 190, TOP + plot_h - 10 - 16 * (len(series) - 1 - i)
        body.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" {stroke}/>')
        body.append(f'<text x="{lx + 24}" y="{ly}">{escape(s["name"])}</text>')
    return svg(WIDTH, HEIGHT, title, body)


def bar_chart(title: str, values: Mapping[str, float], x_label: str, top: int = 15) -> str:
    """Return an SVG horizontal bar chart of the `top` largest values, largest first, labelled by key.

    The label column is as wide as the longest label (at most MAX_BAR_LABEL characters: a longer one is
    cut with an ellipsis, its full text in a tooltip), so no label runs off the chart's left edge; the chart
    is as wide as its title at least, so the title does not run off its right edge.
    """
    shown = sorted(values.items(), key=lambda item: -item[1])[:top]
    labels = [key if len(key) <= MAX_BAR_LABEL else key[: MAX_BAR_LABEL - 1] + "…" for key, _ in shown]
    label_w = round(12 + LABEL_CHAR_WIDTH * max((len(label) for label in labels), default=0))
    bar_h, plot_w = 20, WIDTH - 230 - RIGHT - 70  # 70: room for the value label after the longest bar
    width, height = label_w + plot_w + RIGHT + 70, TOP + bar_h * len(shown) + BOTTOM
    width = max(width, round(12 + TITLE_CHAR_WIDTH * len(title) + RIGHT))
    largest = max((v for _, v in shown), default=0.0) or 1.0
    body, bars = [], []
    for i, ((label, value), text) in enumerate(zip(shown, labels, strict=True)):
        y, w = TOP + i * bar_h, max(value, 0.0) / largest * plot_w
        bars.append(f"M{label_w},{y + 3} h{w:.1f} v{bar_h - 6} h{-w:.1f} Z")
        tooltip = f"<title>{escape(label)}</title>" if text != label else ""
        body.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{tooltip}{escape(text)}</text>')
        body.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{fmt(value)}</text>')
    body.insert(0, f'<path class="data" d="{" ".join(bars)}" fill="{BAR_COLOR}"/>')
    body.append(
        f'<text x="{label_w + plot_w / 2}" y="{height - 14}" text-anchor="middle">{escape(x_label)}</text>'
    )
    return svg(width, height, title, body)
