"""Small inline-SVG line and bar charts, for a report that must open offline."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

Scale = Callable[[float], float]
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 34, 44


@dataclass(slots=True)
class Series:
    name: str
    color: str
    points: list[tuple[float, float]]
    dashed: bool = False
    bars: bool = False


@dataclass(slots=True)
class Chart:
    chart_id: str
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    x_ticks: list[tuple[float, str]] = field(default_factory=list)  # fixed ticks, or automatic
    x_min: float | None = None  # where the x axis starts; the smallest x by default


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `high`."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:.3g}"


def render(chart: Chart) -> str:
    xs = [x for s in chart.series for x, _ in s.points] + [x for x, _ in chart.x_ticks]
    ys = [y for s in chart.series for _, y in s.points]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if chart.x_min is not None:
        x_low = min(x_low, chart.x_min)
    if x_high <= x_low:
        x_high = x_low + 1.0
    y_ticks = nice_ticks(max(ys, default=0.0))
    y_high = y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (y / y_high) * plot_h

    out = [
        f'<svg id="{escape(chart.chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
        f'<text x="{LEFT}" y="20" class="title">{escape(chart.title)}</text>',
    ]
    for tick in y_ticks:
        y = py(tick)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" '
            f'class="grid"/><text x="{LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{_label(tick)}</text>'
        )
    x_ticks = chart.x_ticks or [(x, _label(x)) for x in nice_ticks(x_high) if x >= x_low]
    for x, text in x_ticks:
        out.append(
            f'<line x1="{px(x):.1f}" y1="{TOP + plot_h}" x2="{px(x):.1f}" '
            f'y2="{TOP + plot_h + 5}" class="axis"/><text x="{px(x):.1f}" '
            f'y="{TOP + plot_h + 18}" text-anchor="middle">{escape(text)}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" '
        f'y2="{TOP + plot_h}" class="axis"/>'
    )
    out.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{escape(chart.x_label)}</text>"
    )
    out.append(
        f'<text transform="translate(14 {TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(chart.y_label)}</text>'
    )
    for number, series in enumerate(chart.series):
        out.append(_series(series, px, py, x_low))
        legend_y = TOP + 14 + number * 18
        out.append(
            f'<line x1="{WIDTH - RIGHT + 12}" y1="{legend_y - 4}" '
            f'x2="{WIDTH - RIGHT + 34}" y2="{legend_y - 4}" stroke="{series.color}" '
            f'stroke-width="3"/><text x="{WIDTH - RIGHT + 40}" y="{legend_y}">'
            f"{escape(series.name)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _series(series: Series, px: Scale, py: Scale, x_low: float) -> str:
    if series.bars:
        # Each bar spans from the previous point's x (or the axis start) to its own x.
        bars = []
        start = x_low
        for x, y in series.points:
            left, right = px(start), px(x)
            width = max(1.0, (right - left) * 0.85)
            bars.append(
                f'<rect x="{right - width:.1f}" y="{py(y):.1f}" width="{width:.1f}" '
                f'height="{max(0.0, py(0.0) - py(y)):.1f}" fill="{series.color}" '
                f'opacity="0.6"><title>{y:,.0f}</title></rect>'
            )
            start = x
        return "".join(bars)
    coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in series.points)
    dash = ' stroke-dasharray="6 4"' if series.dashed else ""
    return (
        f'<polyline class="series" points="{coords}" fill="none" stroke="{series.color}" '
        f'stroke-width="2"{dash}><title>{escape(series.name)}</title></polyline>'
    )
