"""A record's text in its own language, said so to screen readers (WCAG 3.1.2)."""

from django import template
from django.conf import settings
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


# Types whose language is their text's (a film's or a record's is its soundtrack's: a
# French title over an English soundtrack is common).
WRITTEN = {"book", "comic", "periodical", "audiobook"}


@register.simple_tag
def library_lang() -> str:
    """` lang="fr"` on a page in another language, for what the library writes in its own
    (settings.LANGUAGE_CODE): a selection's text, a summary, subjects. A screen reader on
    the English pages read that French with English pronunciation (WCAG 3.1.2). (A record
    catalogued in another language is not told apart: no cataloguing language is kept.)"""
    library = settings.LANGUAGE_CODE.split("-")[0]
    if library == (get_language() or "").split("-")[0]:
        return ""
    return format_html(' lang="{}"', library)


@register.simple_tag
def lang_attr(code: str, doc_type: str) -> str:
    """` lang="en"` for the title of a book in English on a French page; nothing when it is
    in the page's language, when its language is unknown, several or none ("mul", "und",
    "zxx"), or when it is a film's or a record's. Titles only: a summary is written in
    the cataloguing language."""
    if doc_type not in WRITTEN:
        return ""
    tag = BCP47.get((code or "").strip().lower())
    if not tag or tag == (get_language() or "").split("-")[0]:
        return ""
    return format_html(' lang="{}"', tag)
