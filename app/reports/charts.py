"""Charts of the report as inline SVG strings: pure functions, no JavaScript, nothing fetched.

Every chart scales to its container (a `viewBox` and `width="100%"`), names itself with
`<title>`/`<desc>` for screen readers, gives every bar a `<title>` with its exact number, and
draws text in `currentColor` so it follows the page's light or dark scheme. Labels are escaped
here, so the result can be inserted into a template as markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from app.links.sources import CANONICAL_SOURCES

__all__ = [
    "Funnel",
    "StackedBar",
    "color_for",
    "format_count",
    "format_rate",
    "funnel_chart",
    "nice_step",
    "rate_bar_chart",
    "stacked_bar_chart",
]

# Tableau 10 and five more: distinct hues that read on a light and on a dark background.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#499894",
    "#d37295",
    "#8cd17d",
    "#a0cbe8",
    "#86bcb6",
)
FONT = "font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,sans-serif\""
CHAR_WIDTH = 6.4  # average advance of an 11-unit system-ui glyph, for laying out the legend


@dataclass(frozen=True, slots=True)
class Funnel:
    """One source's way down from likes to customers; `None` is a number nobody recorded."""

    label: str
    stages: Sequence[tuple[str, int | None]]


@dataclass(frozen=True, slots=True)
class StackedBar:
    """One bar of a stacked chart (a day or a week) and its parts per series."""

    label: str
    values: Mapping[str, int] = field(default_factory=dict)


_SOURCE_COLORS = {
    name: PALETTE[index % len(PALETTE)] for index, name in enumerate(CANONICAL_SOURCES)
}


def color_for(series: str) -> str:
    """The same colour for a source in every chart (canonical sources first, then by name)."""
    color = _SOURCE_COLORS.get(series)
    if color is None:
        color = PALETTE[sum(series.encode("utf-8")) % len(PALETTE)]
    return color


def format_count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def format_rate(value: float | None) -> str:
    """A fraction as a percentage: "12.5%", "0.42%", "0.02%", "0.0042%", or "—" when it is
    undefined. Below 1 % it keeps two significant digits, so a small like-to-lead rate (a few
    leads from tens of thousands of likes) never reads as 0.0 %."""
    if value is None:
        return "—"
    percent = value * 100
    if percent >= 1 or percent == 0:
        return f"{percent:.1f}%"
    decimals = max(2, 1 - math.floor(math.log10(percent)))
    text = f"{percent:.{decimals}f}"
    while decimals > 2 and text.endswith("0"):  # 0.020 reads as 0.02
        text, decimals = text[:-1], decimals - 1
    return text + "%"


def nice_step(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (and at least 1):
    the distance between gridlines of an axis of counts.
    """
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _text(value: str) -> str:
    return escape(value)


def _open_svg(chart_id: str, width: float, height: float, title: str, desc: str) -> list[str]:
    ident = quoteattr(chart_id)
    title_id = quoteattr(f"{chart_id}-title")
    desc_id = quoteattr(f"{chart_id}-desc")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id={ident} class="chart" role="img" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" width="100%" '
        f'preserveAspectRatio="xMidYMin meet" aria-labelledby={title_id} '
        f'aria-describedby={desc_id} {FONT} font-size="11" fill="currentColor">',
        f"<title id={title_id}>{_text(title)}</title>",
        f"<desc id={desc_id}>{_text(desc)}</desc>",
    ]


FUNNEL_WIDTH = 320
FUNNEL_LABEL_WIDTH = 70
FUNNEL_VALUE_WIDTH = 96
FUNNEL_ROW = 20
FUNNEL_TOP = 22


def funnel_chart(funnel: Funnel, *, chart_id: str) -> str:
    """One source's funnel: a centred bar per stage, as long as its share of the largest stage,
    with the count and the conversion from the stage before it.
    """
    known = [value for _, value in funnel.stages if value is not None]
    largest = max(known, default=0)
    height = FUNNEL_TOP + FUNNEL_ROW * len(funnel.stages) + 4
    summary = ", ".join(f"{name} {format_count(value)}" for name, value in funnel.stages)
    parts = _open_svg(
        chart_id, FUNNEL_WIDTH, height, f"Funnel for {funnel.label}", f"{funnel.label}: {summary}"
    )
    parts.append(
        f'<text x="0" y="14" font-size="13" font-weight="600">{_text(funnel.label)}</text>'
    )
    color = color_for(funnel.label)
    area = FUNNEL_WIDTH - FUNNEL_LABEL_WIDTH - FUNNEL_VALUE_WIDTH
    centre = FUNNEL_LABEL_WIDTH + area / 2
    previous: int | None = None
    for row, (name, value) in enumerate(funnel.stages):
        top = FUNNEL_TOP + row * FUNNEL_ROW
        baseline = top + 13
        parts.append(
            f'<text x="{FUNNEL_LABEL_WIDTH - 6}" y="{baseline}" text-anchor="end" '
            f'opacity="0.8">{_text(name)}</text>'
        )
        step = (
            value / previous
            if value is not None and previous is not None and previous > 0
            else None
        )
        if value is not None and value > 0 and largest > 0:
            width = max(2.0, area * value / largest)
            tooltip = f"{funnel.label} · {name}: {value:,}"
            if step is not None:
                tooltip += f" ({format_rate(step)} of {funnel.stages[row - 1][0]})"
            parts.append(
                f'<rect class="bar" x="{_num(centre - width / 2)}" y="{top + 2}" '
                f'width="{_num(width)}" height="{FUNNEL_ROW - 5}" rx="2" fill="{color}">'
                f"<title>{_text(tooltip)}</title></rect>"
            )
        label = format_count(value)
        if step is not None:
            label += f" · {format_rate(step)}"
        parts.append(
            f'<text x="{FUNNEL_WIDTH - 2}" y="{baseline}" text-anchor="end">{_text(label)}</text>'
        )
        previous = value
    parts.append("</svg>")
    return "".join(parts)


STACK_WIDTH = 360
STACK_PLOT_LEFT = 34
STACK_PLOT_TOP = 8
STACK_PLOT_HEIGHT = 150
STACK_AXIS_HEIGHT = 20
LEGEND_ROW = 18
MAX_X_LABELS = 4
AXIS_TICKS = 4


def _legend(series: Sequence[str], top: float, width: float) -> tuple[list[str], float]:
    """Swatches with names, wrapped into rows; returns the parts and the height used."""
    parts: list[str] = []
    x, y = 0.0, top
    for name in series:
        item_width = 14 + CHAR_WIDTH * len(name) + 12
        if x > 0 and x + item_width > width:
            x, y = 0.0, y + LEGEND_ROW
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y + 3)}" width="10" height="10" rx="2" '
            f'fill="{color_for(name)}"/>'
            f'<text x="{_num(x + 14)}" y="{_num(y + 12)}">{_text(name)}</text>'
        )
        x += item_width
    used = (y - top + LEGEND_ROW) if series else 0.0
    return parts, used


def _label_positions(count: int) -> list[int]:
    """Which bars get a label under the axis: the first, the last and a few evenly between."""
    shown = min(count, MAX_X_LABELS)
    if shown <= 1:
        return list(range(shown))
    return sorted({round(i * (count - 1) / (shown - 1)) for i in range(shown)})


def stacked_bar_chart(
    bars: Sequence[StackedBar],
    series: Sequence[str],
    *,
    chart_id: str,
    title: str,
    unit: str,
) -> str:
    """Vertical bars (one per day or week) stacked by series, with a y axis and a legend."""
    totals = [sum(bar.values.get(name, 0) for name in series) for bar in bars]
    step = nice_step(max(totals, default=0) / AXIS_TICKS)
    top_value = step * AXIS_TICKS
    plot_width = STACK_WIDTH - STACK_PLOT_LEFT - 2
    legend_top = STACK_PLOT_TOP + STACK_PLOT_HEIGHT + STACK_AXIS_HEIGHT + 4
    legend, legend_height = _legend(series, legend_top, STACK_WIDTH)
    height = legend_top + legend_height + 2
    grand_total = sum(totals)
    desc = (
        f"{grand_total:,} {unit} in {len(bars)} bars"
        + (f", from {bars[0].label} to {bars[-1].label}" if bars else "")
        + (f"; series: {', '.join(series)}" if series else "")
    )
    parts = _open_svg(chart_id, STACK_WIDTH, height, title, desc)
    bottom = STACK_PLOT_TOP + STACK_PLOT_HEIGHT
    for tick in range(AXIS_TICKS + 1):
        y = bottom - STACK_PLOT_HEIGHT * tick / AXIS_TICKS
        label = f"{step * tick:,}"
        parts.append(
            f'<line x1="{STACK_PLOT_LEFT}" x2="{STACK_WIDTH - 2}" y1="{_num(y)}" y2="{_num(y)}" '
            f'stroke="currentColor" stroke-opacity="{0.35 if tick == 0 else 0.12}"/>'
            f'<text x="{STACK_PLOT_LEFT - 4}" y="{_num(y + 4)}" text-anchor="end" '
            f'opacity="0.8">{_text(label)}</text>'
        )
    slot = plot_width / max(1, len(bars))
    bar_width = max(0.5, slot * 0.8)
    for index, bar in enumerate(bars):
        x = STACK_PLOT_LEFT + index * slot + (slot - bar_width) / 2
        y = float(bottom)
        segments: list[str] = []
        for name in series:
            value = bar.values.get(name, 0)
            if value <= 0:
                continue
            segment_height = STACK_PLOT_HEIGHT * value / top_value
            y -= segment_height
            segments.append(
                f'<rect class="segment" x="{_num(x)}" y="{_num(y)}" width="{_num(bar_width)}" '
                f'height="{_num(segment_height)}" fill="{color_for(name)}">'
                f"<title>{_text(f'{bar.label} · {name}: {value:,} {unit}')}</title></rect>"
            )
        if segments:
            parts.append(f'<g class="bar">{"".join(segments)}</g>')
    for index in _label_positions(len(bars)):
        if len(bars) > 1 and index == 0:
            x, anchor = float(STACK_PLOT_LEFT), "start"
        elif len(bars) > 1 and index == len(bars) - 1:
            x, anchor = float(STACK_WIDTH - 2), "end"
        else:
            x, anchor = STACK_PLOT_LEFT + index * slot + slot / 2, "middle"
        parts.append(
            f'<text x="{_num(x)}" y="{bottom + 14}" text-anchor="{anchor}" opacity="0.8">'
            f"{_text(bars[index].label)}</text>"
        )
    if grand_total == 0:
        parts.append(
            f'<text x="{_num(STACK_PLOT_LEFT + plot_width / 2)}" '
            f'y="{_num(STACK_PLOT_TOP + STACK_PLOT_HEIGHT / 2)}" text-anchor="middle" '
            f'opacity="0.8">No {_text(unit)} in this range</text>'
        )
    parts.extend(legend)
    parts.append("</svg>")
    return "".join(parts)


RATE_WIDTH = 340
RATE_LABEL_WIDTH = 78
RATE_VALUE_WIDTH = 64
RATE_ROW = 22


def rate_bar_chart(
    bars: Sequence[tuple[str, float | None]],
    *,
    chart_id: str,
    title: str,
    missing: str,
) -> str:
    """Horizontal bars of a rate per label, as long as their share of the highest rate.

    A `None` rate (its denominator was zero) gets no bar but the `missing` text instead.
    """
    known = [value for _, value in bars if value is not None]
    largest = max(known, default=0.0)
    height = max(RATE_ROW, RATE_ROW * len(bars)) + 2
    desc = "; ".join(
        f"{label}: {format_rate(value) if value is not None else missing}" for label, value in bars
    )
    parts = _open_svg(chart_id, RATE_WIDTH, height, title, desc or "No data in this range")
    area = RATE_WIDTH - RATE_LABEL_WIDTH - RATE_VALUE_WIDTH
    for row, (label, value) in enumerate(bars):
        top = row * RATE_ROW
        baseline = top + 15
        parts.append(
            f'<text x="{RATE_LABEL_WIDTH - 6}" y="{baseline}" text-anchor="end">'
            f"{_text(label)}</text>"
        )
        if value is not None and value > 0 and largest > 0:
            width = max(2.0, area * value / largest)
            parts.append(
                f'<rect class="bar" x="{RATE_LABEL_WIDTH}" y="{top + 4}" width="{_num(width)}" '
                f'height="{RATE_ROW - 8}" rx="2" fill="{color_for(label)}">'
                f"<title>{_text(f'{label}: {format_rate(value)}')}</title></rect>"
            )
        shown = format_rate(value) if value is not None else missing
        parts.append(
            f'<text x="{RATE_WIDTH - 2}" y="{baseline}" text-anchor="end" '
            f'opacity="{1 if value is not None else 0.7}">{_text(shown)}</text>'
        )
    if not bars:
        parts.append(
            f'<text x="{RATE_WIDTH / 2}" y="15" text-anchor="middle" opacity="0.8">'
            "No data in this range</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
