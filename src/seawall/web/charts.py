"""Tiny server-side SVG charts (horizontal bars, a line) for the console dashboard.

Charts are drawn on the server as inline SVG so the console needs no script, no chart library and
no CDN, and a chart is as accessible as the table beside it: every bar and point carries a
``<title>`` with its exact value. Labels are escaped; numbers are formatted, never trusted as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
BAR_COLOUR = "#2563eb"
LINE_COLOUR = "#0f766e"


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


#: Width allowed per character of a bar label (12 px system-ui is at most about this wide on average).
CHAR_WIDTH = 7.2


def bar_chart(series: Sequence[tuple[str, float]], *, title: str, width: int = 520, bar: int = 22,
              label_width: int = 190) -> Markup:
    """Horizontal bars, one per (label, value), scaled to the largest value; an empty series says so.

    The label column grows to fit the longest label (never cut: a clipped label name is a wrong label),
    and the chart widens with it so the bars keep their length.
    """
    gap = 6
    need = int(max((len(label) for label, _ in series), default=0) * CHAR_WIDTH) + 12
    if need > label_width:
        width += need - label_width
        label_width = need
    height = 28 + max(1, len(series)) * (bar + gap)
    top = max((v for _, v in series), default=0) or 1
    span = width - label_width - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
             f'<text x="0" y="16" {FONT} font-weight="bold">{escape(title)}</text>']
    if not series:
        parts.append(f'<text x="0" y="42" {FONT} fill="#555">no data yet</text>')
    for i, (label, value) in enumerate(series):
        y = 28 + i * (bar + gap)
        w = max(1.0, span * value / top) if value else 0.0
        parts.append(f'<g class="bar"><title>{escape(label)}: {_num(value)}</title>'
                     f'<text x="{label_width - 6}" y="{y + bar * 0.7:.1f}" text-anchor="end" {FONT}>'
                     f'{escape(label)}</text>'
                     f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar}" fill="{BAR_COLOUR}"/>'
                     f'<text x="{label_width + w + 4:.1f}" y="{y + bar * 0.7:.1f}" {FONT}>{_num(value)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(points: Sequence[tuple[str, float]], *, title: str, width: int = 520, height: int = 200) -> Markup:
    """A line over evenly spaced (label, value) points, with the first and last label on the axis."""
    left, right, top_pad, bottom = 40, 10, 28, 24
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max((v for _, v in points), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
             f'<text x="0" y="16" {FONT} font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" y2="{top_pad + plot_h}" stroke="#999"/>',
             f'<text x="{left - 4}" y="{top_pad + 10}" text-anchor="end" {FONT}>{_num(top)}</text>',
             f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" {FONT}>0</text>']
    if not points:
        parts.append(f'<text x="{left}" y="{top_pad + 20}" {FONT} fill="#555">no data yet</text>')
    step = plot_w / max(1, len(points) - 1)
    xy = [(left + i * step, top_pad + plot_h - plot_h * v / top) for i, (_, v) in enumerate(points)]
    if len(xy) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f'<polyline fill="none" stroke="{LINE_COLOUR}" stroke-width="2" points="{path}"/>')
    for (x, y), (label, value) in zip(xy, points, strict=True):
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE_COLOUR}">'
                     f'<title>{escape(label)}: {_num(value)}</title></circle>')
    if points:
        parts.append(f'<text x="{left}" y="{height - 6}" {FONT}>{escape(points[0][0])}</text>'
                     f'<text x="{width - right}" y="{height - 6}" text-anchor="end" {FONT}>'
                     f'{escape(points[-1][0])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
