"""A line chart drawn on the server as SVG: no chart library, no script, nothing for the Content-Security-Policy to
allow. The page shows the same numbers in a table next to it (the chart's text alternative)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

# Colours that keep 3:1 contrast against white (WCAG's rule for graphics), told apart by dash patterns as well.
PALETTE = ("#1f5fbf", "#b3261e", "#1b7a3a", "#7a3fb3", "#a35a00", "#00707a")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "10 4", "3 6")
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 190, 16, 40


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[tuple[datetime, float]]  # (when, value), in time order


def _nice_ceiling(value: float) -> float:
    """The next round number at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.1
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def line_chart(series: Sequence[Series], *, title: str, unit: str) -> str:
    """An SVG document (as markup to put inline) with one line per series, a time axis and a value axis."""
    moments = sorted({when for s in series for when, _ in s.points})
    label = escape(title)
    if not moments:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{label}: no data yet" '
            f'viewBox="0 0 {WIDTH} 60" class="chart"><title>{label}: no data yet</title>'
            '<text x="10" y="35" fill="#333">No requests recorded in this period yet.</text></svg>'
        )
    top = _nice_ceiling(max(v for s in series for _, v in s.points))
    start, end = moments[0].timestamp(), moments[-1].timestamp()
    span = max(end - start, 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(when: datetime) -> float:
        return LEFT + (when.timestamp() - start) / span * plot_w if len(moments) > 1 else LEFT + plot_w / 2

    def y(value: float) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart"><title>{label}</title>'
    ]
    for i in range(5):  # value grid and labels
        value = top * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" fill="#333">'
            f"{value:g}</text>"
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.0f}" font-size="11" fill="#333" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.0f})" text-anchor="middle">{escape(unit)}</text>'
    )
    for when in (moments[0], moments[len(moments) // 2], moments[-1]):  # time labels
        parts.append(
            f'<text x="{x(when):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" font-size="11" fill="#333">'
            f"{when:%H:%M}</text>"
        )
    for n, s in enumerate(series):
        colour, dash = PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        points = " ".join(f"{x(when):.1f},{y(value):.1f}" for when, value in s.points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash_attr} points="{points}"/>')
        for when, value in s.points:
            parts.append(f'<circle cx="{x(when):.1f}" cy="{y(value):.1f}" r="2.5" fill="{colour}"/>')
        legend_y = TOP + 14 + n * 18
        parts.append(
            f'<line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 36}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
            f'stroke="{colour}" stroke-width="2"{dash_attr}/>'
            f'<text x="{WIDTH - RIGHT + 42}" y="{legend_y}" font-size="11" fill="#333">{escape(s.name[:28])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
