"""Finding a card holder the way staff ask for one: by card, by phone number however it
is written, or by parts of a name, accents and case ignored. The phone desk, the door,
the returns desk, the staff API and the admin all look patrons up through here."""

import re

from django.db.models import CharField, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from emporter.folding import fold
from emporter.inputs import without_control_chars

from .models import Patron

MAX_PATRONS = 20
# A French number without its trunk "0": "6 12 34 56 78".
NATIONAL_LENGTH = 9
# France, then the overseas departments dialled with their own code: La Réunion and
# Mayotte (262, 269), Guadeloupe (590), French Guiana (594), Martinique (596).
COUNTRY_CODES = ("33", "262", "269", "590", "594", "596")
PHONE_LIKE = re.compile(r"[\d\s+().\-/]+")
# The trigram index (phonedesk migration 0001) has this exact expression: keep them identical.
NAME = """emporter_fold("patrons_patron"."first_name" || ' ' || "patrons_patron"."last_name")"""
# Trigram indexes need 3 letters; a name look-up needs one word at least that long.
MIN_NAME_WORD = 3
# What parts a name's words (after fold(), which makes every apostrophe and dash plain).
NAME_BREAK = re.compile(r"[\s'-]+")


def phone_variants(digits: str) -> set[str]:
    """Every way a French number may have been stored, as digits only:
    "0612345678", "33612345678", "0033612345678", "330612345678" ("+33 (0)6…") all name
    the same phone. Overseas numbers are in the same national plan ("0692…" is +262 692…),
    so each country code is tried: no two of them share a national number."""
    national = national_number(digits)
    if national is None:
        return {digits}  # not French: only the number exactly as typed
    variants = {digits, "0" + national}
    for code in COUNTRY_CODES:
        for international in (code + national, code + "0" + national):
            variants |= {international, "00" + international}
    return variants


def national_number(digits: str) -> str | None:
    """The 9 digits after the trunk "0" of a French number however written, or None."""
    national = digits.removeprefix("00")
    for code in COUNTRY_CODES:
        rest = national.removeprefix(code)
        # Only a whole number follows the code: "262 12 34 56" alone is no Réunion number.
        if rest != national and len(rest) in (NATIONAL_LENGTH, NATIONAL_LENGTH + 1):
            national = rest
            break
    national = national.removeprefix("0")  # the trunk prefix, also written "+33 (0)6…"
    return national if len(national) == NATIONAL_LENGTH else None


def find_patrons(q: str, limit: int = MAX_PATRONS) -> list[Patron]:
    """At most ``limit`` patrons matching a card number, a phone number in any format, or
    parts of a name (every word must appear in "first last", accents and case ignored)."""
    # A NUL would make PostgreSQL fail; no name, card or phone holds a control character.
    q = " ".join(without_control_chars(q).split())[:100]
    if not q:
        return []
    patrons = Patron.objects.select_related("home_branch")
    compact = q.replace(" ", "")
    if PHONE_LIKE.fullmatch(q):
        digits = re.sub(r"\D", "", q)
        match = Q(card_number__iexact=compact)
        if len(digits) >= NATIONAL_LENGTH:
            match |= Q(phone_digits__in=phone_variants(digits))
        return list(patrons.filter(match)[:limit])
    exact = list(patrons.with_card(compact)[:1])
    if exact:
        return exact
    if name_too_short(q):
        return []  # "Li" alone would match half the network, and no index helps
    return list(patrons_named(q, patrons)[:limit])


def patrons_named(q: str, patrons=Patron.objects):
    """Every word of ``q`` inside "first last", accents and case ignored."""
    patrons = patrons.annotate(folded_name=RawSQL(NAME, [], output_field=CharField()))
    for word in name_words(q):
        patrons = patrons.filter(folded_name__contains=word)
    # Ordered by an expression no b-tree provides: otherwise PostgreSQL walks the name
    # index in order hoping to meet 20 matches soon, and reads every row when few match.
    return patrons.order_by(Lower("last_name"), Lower("first_name"), "pk")


def name_words(q: str) -> list[str]:
    """The words of a name as typed, folded. Hyphens and apostrophes part words as spaces
    do: "Dupont-Moretti" finds "Dupont Moretti", and "N'Diaye" finds "Ndiaye" too."""
    return [word for word in NAME_BREAK.split(fold(q)) if word]


def name_too_short(q: str) -> bool:
    return not PHONE_LIKE.fullmatch(q) and max(map(len, name_words(q)), default=0) < MIN_NAME_WORD
