"""A record's text in its own language, said so to screen readers (WCAG 3.1.2)."""

from django import template
from django.utils.html import format_html
from django.utils.translation import get_language

register = template.Library()

# MARC language codes (ISO 639-2/B) and the BCP 47 tag a browser and a screen reader know.
BCP47 = {
    "fre": "fr",
    "eng": "en",
    "ger": "de",
    "spa": "es",
    "ita": "it",
    "por": "pt",
    "ara": "ar",
    "chi": "zh",
    "jpn": "ja",
    "rus": "ru",
    "lat": "la",
    "dut": "nl",
    "bre": "br",
    "oci": "oc",
    "cat": "ca",
    "baq": "eu",
    "cos": "co",
    "pol": "pl",
    "tur": "tr",
    "vie": "vi",
}


@register.simple_tag
def lang_attr(code: str) -> str:
    """` lang="en"` for a record in English on a French page; nothing when it is in the
    page's language, or its language is unknown, several or none ("mul", "und", "zxx")."""
    tag = BCP47.get((code or "").strip().lower())
    if not tag or tag == (get_language() or "").split("-")[0]:
        return ""
    return format_html(' lang="{}"', tag)
