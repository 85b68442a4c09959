"""Text folded for comparison, the same in Python and in SQL on both engines: lower case,
no accents, ligatures and the letters of European names spelt out. PostgreSQL has
``emporter_fold()`` (unaccent + lower, catalogue migration 0002); SQLite gets the same
name from ``fold`` below (``register_sqlite_fold``, connected by the patrons app)."""

import unicodedata

# What unaccent does and NFKD does not: "Lœtitia" is found by "loetitia", and "N’Diaye"
# (typographic apostrophe, as autocorrect and pastes write it) by "N'Diaye", as on
# PostgreSQL. Of unaccent's punctuation rules, only those a name may hold.
APOSTROPHES = "\u2018\u2019\u201b\u2032\u02bc"  # ‘ ’ ‛ ′ ʼ
DASHES = "\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # soft hyphen, ‐ ‑ ‒ – — ― −
# Letters of European names that unaccent strips and NFKD leaves whole (Michał, Søren,
# Đorđe, Þóra): as lower case, which fold() turns every letter into first.
LETTERS = {
    **{"œ": "oe", "æ": "ae", "ß": "ss", "ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th"},
    **{"ħ": "h", "ı": "i", "ŀ": "l", "ŋ": "n", "ŧ": "t"},
}
FOLDS = str.maketrans(LETTERS | dict.fromkeys(APOSTROPHES, "'") | dict.fromkeys(DASHES, "-"))


def fold(value: str | None) -> str | None:
    """Lower case without accents: what PostgreSQL's emporter_fold() does (unaccent + lower)."""
    if value is None:
        return None
    decomposed = unicodedata.normalize("NFKD", value.lower().translate(FOLDS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def register_sqlite_fold(sender, connection, **kwargs):
    # SQLite has no unaccent: the same function, in Python, for name and call-number
    # look-ups to work there too.
    if connection.vendor == "sqlite":
        connection.connection.create_function("emporter_fold", 1, fold, deterministic=True)
