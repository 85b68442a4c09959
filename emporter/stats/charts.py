"""Small SVG charts drawn on the server: no JavaScript, nothing from a CDN, printable.

The charts are pictures for the eye; the numbers are in the table beside each one,
which is what screen readers read, so an SVG carries only a title (role="img").
"""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Colour-blind safe (Okabe–Ito), in series order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]
WIDTH = 640


def _nice_max(value: float) -> float:
    """A round top for the axis: 1, 2 or 5 times a power of ten, at least the value."""
    if value <= 0:
        return 1
    step = 1
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return value


def _svg(title: str, height: int, body: list[str]) -> SafeString:
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'font-family="system-ui, sans-serif" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _legend(names: list[str], y: int) -> list[str]:
    parts, x = [], 40
    for n, name in enumerate(names):
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{y}" font-size="11">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return parts


def columns(labels: list[str], series: list[tuple[str, list[int]]], *, title: str) -> SafeString:
    """Stacked columns, one per label (a day), one colour per series (a channel)."""
    height, top, bottom, left = 220, 10, 40, 40
    plot_h = height - top - bottom
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    peak = _nice_max(max(totals, default=0))
    slot = (WIDTH - left - 10) / max(len(labels), 1)
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - 10}" y2="{top + plot_h}" stroke="#666"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{peak:g}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>',
    ]
    every = max(1, len(labels) // 10)
    for i, label in enumerate(labels):
        x, y = left + i * slot + slot * 0.1, top + plot_h
        for n, (_, values) in enumerate(series):
            h = values[i] / peak * plot_h
            if h:
                body.append(
                    f'<rect x="{x:.1f}" y="{y - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
                    f'fill="{PALETTE[n % len(PALETTE)]}"/>'
                )
            y -= h
        if i % every == 0:
            body.append(
                f'<text x="{x + slot * 0.4:.1f}" y="{top + plot_h + 13}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    if len(series) > 1:
        body += _legend([name for name, _ in series], height - 6)
    return _svg(title, height, body)


def bars(items: list[tuple[str, float | None, str]], *, title: str, percent: bool = False) -> SafeString:
    """Horizontal bars: (label, value, value as text) per item, the text at the bar's end.
    With ``percent``, values are fractions and the axis ends at 100 %."""
    row, left, right = 22, 240, 90
    height = max(len(items), 1) * row + 10
    peak = 1 if percent else _nice_max(max((v or 0 for _, v, _ in items), default=0))
    plot_w = WIDTH - left - right
    body = []
    for i, (label, value, text) in enumerate(items):
        y = 5 + i * row
        w = (value or 0) / peak * plot_w
        short = label if len(label) <= 38 else label[:37] + "…"
        body.append(
            f'<text x="{left - 6}" y="{y + 14}" font-size="11" text-anchor="end">{escape(short)}</text>'
        )
        body.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{PALETTE[0]}"/>')
        body.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="11">{escape(text)}</text>')
    return _svg(title, height, body)
