"""Numbers typed or posted by people, read without ever raising.

``str.isdigit()`` is true for "²" or "٣", which ``int()`` then refuses or reads as
another number; and an id longer than the database's integers makes SQLite raise
OverflowError inside a query. Every id or page number that comes from a request goes
through here instead.
"""

from collections.abc import Iterable

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
