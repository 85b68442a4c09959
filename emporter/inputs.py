"""Numbers and text typed or posted by people, read without ever raising.

``str.isdigit()`` is true for "²" or "٣", which ``int()`` then refuses or reads as
another number; and an id longer than the database's integers makes SQLite raise
OverflowError inside a query. Every id or page number that comes from a request goes
through here instead.

Text: PostgreSQL refuses a NUL character in any string it is sent (the query fails),
and a lone surrogate (JSON's "\\ud800") cannot even be encoded to UTF-8. Neither can be
typed by a person: text from a request is refused (the API) or cleaned (the pages) with
``has_control_chars`` / ``without_control_chars`` before it reaches a query.
"""

import datetime
import unicodedata
from collections.abc import Iterable

from django.utils import dateparse

# Database ids are 64-bit signed: 18 digits always fit.
MAX_DIGITS = 18


def parse_id(value: object) -> int | None:
    """A positive integer written in ASCII digits, or None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not (0 < len(value) <= MAX_DIGITS and value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number > 0 else None


def parse_ids(values: Iterable[object]) -> list[int]:
    """The valid ids among ``values``, in order, without repeats; the others are dropped."""
    ids = (parse_id(v) for v in values)
    return list(dict.fromkeys(i for i in ids if i is not None))


def parse_day(value: object) -> datetime.date | None:
    """A day written as a date field sends it (YYYY-MM-DD), or None: "2026-02-30" too."""
    if not isinstance(value, str) or not value.strip().isascii():
        return None
    try:
        return dateparse.parse_date(value.strip())
    except ValueError:
        return None


# Tab, line feed and carriage return are control characters that people do type.
TYPED_CONTROLS = frozenset("\t\n\r")


def _unwanted(c: str) -> bool:
    # Cc: C0 and C1 controls and DEL (NUL among them); Cs: lone surrogates.
    return c not in TYPED_CONTROLS and unicodedata.category(c) in ("Cc", "Cs")


def has_control_chars(value: str) -> bool:
    """True when ``value`` holds a character no keyboard types (NUL, DEL, a surrogate…)."""
    return any(map(_unwanted, value))


def without_control_chars(value: str) -> str:
    """``value`` without those characters."""
    return "".join(c for c in value if not _unwanted(c))


def typed(value: object, *, max_length: int = 200) -> str:
    """What a scanner or a keyboard sent in a page's form: trimmed, cut to
    ``max_length``, without control characters (a scanner's suffix, a NUL that
    PostgreSQL refuses): a barcode with a stray NUL is still that barcode."""
    if not isinstance(value, str):
        return ""
    return without_control_chars(value).strip()[:max_length]


# A cancellation's reason, as the patron reads it in their email.
MAX_REASON = 300


# Invisible characters that change how a text reads without being seen: a bidi
# embedding or override (U+202A-U+202E) turns the rest of a reason around in the
# patron's email, zero-width spaces and the like make a reason that looks blank. The
# other format characters stay: the joiners spell some scripts and emoji, the marks
# and isolates place a right-to-left text's parentheses and digits.
HIDDEN = frozenset("\u202a\u202b\u202c\u202d\u202e\u200b\u2060\ufeff\u00ad")


def one_line(value: str, *, max_length: int = MAX_REASON) -> str:
    """Text written for a patron to read (a cancellation's reason): one line, single
    spaces, no control or invisible formatting character, cut to ``max_length``. Empty
    when nothing is left: a blank reason would print "Reason:" and nothing in the
    patron's email."""
    seen = "".join(c for c in without_control_chars(value) if c not in HIDDEN)
    return " ".join(seen.split())[:max_length]
