import unicodedata

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _

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


def _register_sqlite_fold(sender, connection, **kwargs):
    # PostgreSQL gets emporter_fold() from catalogue migration 0002; SQLite has no
    # unaccent, so the same name is provided in Python for name look-ups to work there too.
    if connection.vendor == "sqlite":
        connection.connection.create_function("emporter_fold", 1, fold, deterministic=True)


class PhoneDeskConfig(AppConfig):
    name = "emporter.phonedesk"
    verbose_name = _("Phone desk")

    def ready(self):
        connection_created.connect(_register_sqlite_fold, dispatch_uid="phonedesk_sqlite_fold")
