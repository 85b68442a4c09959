"""How "age 6–9" and "comics" map onto the catalogue.

Every rule is a condition on a *copy* (``Q`` over Copy, reaching its record through
``record__``), checked together with availability in one correlated subquery: "is
there an available copy of this record that fits?". (Written as separate EXISTS over
the record's copies, PostgreSQL hashes each of them over the whole copy table.)
``record_q`` adds the part that needs no copy, so the records are narrowed first.

Age bands are year ranges of readers: 0–3 is a reader of 0, 1 or 2 years, teens is
12 to 17 (``YEARS`` holds them half-open, [0, 3) and [12, 18)). A record's own range is
inclusive, as MARC gives it and the importer stores it (008/22 'a' is 0–5) and as the
record page and the admin say it ("up to 3 years", "maximum age"): a record marked 0–3
is for a 3-year-old too, one marked 5–6 for a 6-year-old. It fits a band when the two
overlap: age_min before the band's end, age_max at or after its start. A record that
says only "from 6" is read as three years, 6, 7 and 8; one that says only "up to 6" as
0 to 6.

Records with no age at all (most MARC exports) fall back on the call number of their
youth copies, the way French children's libraries shelve them (the demo network
follows the same conventions):

    0–3    TP, BB                        tout-petits, bébés lecteurs
    3–6    E, A, ALB                     albums
    6–9    J PL, PL, PR                  premières lectures
    9–12   J R, R, RJ, J 8               romans for children ("J 843": Dewey's literature)
           BD, J BD, MANGA               comics (a youth record's, with no age)
    teens  ADO, J ADO, YA, RA            adolescents

Kinds combine the document type with the same prefixes:

    picture books   books shelved E / A / ALB / TP / BB, or youth books up to 6 years
    novels          books shelved J PL / PL / PR / J R / RJ / R / J 813…J 863 (youth), or youth
                    books for 6 and over that are not shelved as albums, documentaries
                    or comics (one kind from first readers to teens: none tells them apart)
    comics          document type comic, or anything shelved BD / J BD / MANGA
    documentaries   books shelved under a Dewey class other than 8xx (literature),
                    with or without the J prefix: "J 590", "523.1 GAL"
    films           DVDs
    music           music CDs
"""

from functools import reduce
from operator import or_

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from emporter.catalogue.models import Audience, DocType


class AgeBand(models.TextChoices):
    BABIES = "0-3", _("0–3 years")
    TODDLERS = "3-6", _("3–6 years")
    YOUNG = "6-9", _("6–9 years")
    CHILDREN = "9-12", _("9–12 years")
    TEENS = "teens", _("Teens")


class Kind(models.TextChoices):
    PICTURE_BOOKS = "picture-books", _("Picture books")
    # Its code name is kept (bookmarked addresses): the kind is every novel for the young.
    FIRST_NOVELS = "first-novels", _("Novels")
    COMICS = "comics", _("Comics")
    DOCUMENTARIES = "documentaries", _("Documentaries")
    FILMS = "films", _("Films")
    MUSIC = "music", _("Music")


YEARS = {
    AgeBand.BABIES: (0, 3),
    AgeBand.TODDLERS: (3, 6),
    AgeBand.YOUNG: (6, 9),
    AgeBand.CHILDREN: (9, 12),
    AgeBand.TEENS: (12, 18),
}
# A child's card is for readers under this age (the teens' band ends there).
ADULT_AGE = YEARS[AgeBand.TEENS][1]
# Read as "from N": a record with only a minimum age covers this many years.
OPEN_RANGE_YEARS = 3

# Where a youth record with no age is shelved, band by band (the table above).
BAND_PREFIXES = {
    AgeBand.BABIES: ("TP ", "BB "),  # tout-petits, bébés lecteurs
    AgeBand.TODDLERS: ("E ", "E/", "A ", "ALB"),  # albums
    AgeBand.YOUNG: ("J PL", "PL ", "PR "),  # premières lectures
    AgeBand.CHILDREN: ("J R", "R ", "RJ", "J 8", "BD", "J BD", "MANGA"),  # romans ("J 843"), comics
    AgeBand.TEENS: ("ADO", "J ADO", "YA ", "RA "),  # adolescents
}
# Dewey's fiction of each literature (813 American, 823 English, 833 German, 843 French,
# 853 Italian, 863 Spanish): "J 841" poems and "J 842" plays are no novels.
NOVEL_PREFIXES = ("J PL", "PL ", "PR ", "J R", "RJ", "R ", *(f"J 8{n}3" for n in range(1, 7)))
COMIC_PREFIXES = ("BD", "J BD", "MANGA")
PICTURE_PREFIXES = BAND_PREFIXES[AgeBand.BABIES] + BAND_PREFIXES[AgeBand.TODDLERS]
# Dewey classes except 8xx (literature): "J 590", "523.1".
DOCUMENTARY_PREFIXES = tuple(f"{j}{d}" for j in ("", "J ") for d in "012345679")


def prefixed(prefixes) -> Q:
    return reduce(or_, (Q(call_number__istartswith=p) for p in prefixes))


def band_for_age(age: int | None) -> str:
    """The band a reader of ``age`` belongs to; "" for adults or unknown."""
    if age is None:
        return ""
    return next((band for band, (low, high) in YEARS.items() if low <= age < high), "")


def age_q(band: str) -> Q:
    """Copies of records for readers of ``band``: their inclusive age range overlaps it;
    with no age, a youth copy shelved as the band's (``BAND_PREFIXES``)."""
    low, high = YEARS[AgeBand(band)]
    has_age = Q(record__age_min__isnull=False) | Q(record__age_max__isnull=False)
    starts_before_end = Q(record__age_min__isnull=True) | Q(record__age_min__lt=high)
    ends_after_start = Q(record__age_max__gte=low) | Q(
        record__age_max__isnull=True, record__age_min__gt=low - OPEN_RANGE_YEARS
    )
    no_age = Q(record__age_min__isnull=True, record__age_max__isnull=True, record__audience=Audience.YOUTH)
    return (has_age & starts_before_end & ends_after_start) | (no_age & prefixed(BAND_PREFIXES[band]))


def kind_q(kind: str) -> Q:
    book = Q(record__doc_type=DocType.BOOK)
    youth = Q(record__audience=Audience.YOUTH)
    match Kind(kind):
        case Kind.PICTURE_BOOKS:
            young = youth & Q(record__age_max__lte=6) & ~prefixed(NOVEL_PREFIXES + DOCUMENTARY_PREFIXES)
            return book & (prefixed(PICTURE_PREFIXES) | young)
        case Kind.FIRST_NOVELS:
            older = (Q(record__age_min__gte=6) | Q(record__age_max__gt=6)) & ~prefixed(
                PICTURE_PREFIXES + DOCUMENTARY_PREFIXES + COMIC_PREFIXES
            )
            return book & youth & (prefixed(NOVEL_PREFIXES) | older)
        case Kind.COMICS:
            return Q(record__doc_type=DocType.COMIC) | prefixed(COMIC_PREFIXES)
        case Kind.DOCUMENTARIES:
            return book & prefixed(DOCUMENTARY_PREFIXES)
        case Kind.FILMS:
            return Q(record__doc_type=DocType.DVD)
        case Kind.MUSIC:
            return Q(record__doc_type=DocType.CD)


def record_q(*, band: str = "", kinds=()) -> Q:
    """What a record must be, whatever its copies, for ``band`` and any of ``kinds``."""
    where = Q()
    if band:
        where &= Q(age_min__isnull=False) | Q(age_max__isnull=False) | Q(audience=Audience.YOUTH)
    types = {KIND_TYPES.get(Kind(k)) for k in kinds}
    if kinds and None not in types:
        where &= Q(doc_type__in=types)
    return where


# The one document type a kind is limited to (comics are told by call number too).
KIND_TYPES = {
    Kind.PICTURE_BOOKS: DocType.BOOK,
    Kind.FIRST_NOVELS: DocType.BOOK,
    Kind.DOCUMENTARIES: DocType.BOOK,
    Kind.FILMS: DocType.DVD,
    Kind.MUSIC: DocType.CD,
}
