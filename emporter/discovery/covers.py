"""Placeholder covers drawn from the record itself: an SVG with the title on a colour.

Nothing is fetched: the colour comes from the document type (a hue per type, so a
shelf of tiles reads at a glance) shifted by a hash of the title (so neighbours differ).
"""

import hashlib
import textwrap

from django.utils.html import escape

from emporter.catalogue.models import DocType

HUES = {
    DocType.BOOK: 210,
    DocType.COMIC: 20,
    DocType.DVD: 280,
    DocType.CD: 150,
    DocType.AUDIOBOOK: 180,
    DocType.PERIODICAL: 45,
    DocType.GAME: 330,
}
# Short words on the cover's band, not translated: they are the labels on the shelves.
BADGES = {DocType.COMIC: "BD", DocType.DVD: "DVD", DocType.CD: "CD", DocType.AUDIOBOOK: "CD livre"}
LINE_CHARS = 12
MAX_LINES = 5


def colour_for(title: str, doc_type: str) -> str:
    shift = int(hashlib.sha1(title.encode()).hexdigest()[:4], 16) % 40 - 20
    hue = (HUES.get(doc_type, 0) + shift) % 360
    return f"hsl({hue} 55% 30%)"


def title_lines(title: str) -> list[str]:
    lines = textwrap.wrap(title, LINE_CHARS, break_long_words=True) or ["?"]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][: LINE_CHARS - 1] + "…"
    return lines


def placeholder_svg(*, title: str, doc_type: str = DocType.BOOK, colour: str = "") -> str:
    """An SVG cover (2:3), decorative: the page shows the title as text beside it."""
    fill = colour or colour_for(title, doc_type)
    lines = title_lines(title)
    top = 95 - 11 * len(lines)
    text = "".join(f'<tspan x="60" y="{top + 22 * n}">{escape(line)}</tspan>' for n, line in enumerate(lines))
    badge = BADGES.get(doc_type, "")
    band = (
        f'<rect x="0" y="152" width="120" height="28" fill="#0005"/>'
        f'<text x="60" y="171" text-anchor="middle" font-size="14" font-weight="700">{badge}</text>'
        if badge
        else ""
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 180" class="cover" '
        'aria-hidden="true" focusable="false">'
        f'<rect width="120" height="180" rx="6" fill="{escape(fill)}"/>'
        '<rect x="8" y="8" width="104" height="164" rx="3" fill="none" stroke="#fff6" stroke-width="2"/>'
        '<g fill="#fff" font-family="system-ui, sans-serif">'
        f'<text text-anchor="middle" font-size="14" font-weight="600">{text}</text>{band}</g></svg>'
    )
