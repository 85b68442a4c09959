"""The demo catalogue: the three shared MARC files, imported then spread over the network.

Beside them, an invented children's collection (``children.py``) goes through the same
importer and is spread the same way: ``demo_records(with_children=True)``.

The files come from two North American libraries and a French one; none of them
knows our branches, so every copy lands at the central library first, then is moved to
a branch, department and location that fit its type and audience. The same copy always
goes to the same place (a random generator seeded by its barcode), so seeding twice
gives the same network.
"""

import hashlib
import random
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from emporter.catalogue.importer import ImportReport, import_marc
from emporter.catalogue.models import Audience, Copy, CopyStatus, DocType, Record

from . import children
from .shelves import Placer, dewey_of, kind_of

MARC_FILES = ("cotesMEL.mrc", "jazz_1k.mrc", "lul_fre_100.mrc")
SOURCES = tuple(Path(name).stem for name in MARC_FILES)
CENTRAL = "PDI"

# DEMO SHAPING, not data: the shared files hardly ever say who a record is for, and a
# click-and-collect demo without a children's collection would show nothing of the
# Jeunesse department. When the demo has (almost) no youth records, about one book
# or comic in five is *declared* youth here, with a plausible age band. The invented
# children's collection (children.py) is more than 5 % of the demo's records, so a
# demo seeded with it declares nothing: its albums are albums, not a 19th-century
# memoir made "3–6 years" at random.
YOUTH_SHARE = 0.2
AGE_BANDS = ((0, 6), (6, 8), (9, 12), (13, 16))
# Source item types of rare and reference books: shelved in the regional, on-site
# only collection of the central library.
HERITAGE_TYPES = {"BOOK_RARE", "REFERENCE"}
# Some copies are out on loan or lost, as on any day.
STATUS_WEIGHTS = {CopyStatus.ON_SHELF: 84, CopyStatus.ON_LOAN: 14, CopyStatus.MISSING: 2}


def marc_directory() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "data" / "marc"


def marc_paths(directory: Path | None = None) -> list[Path]:
    """The shared MARC files; FileNotFoundError naming the missing ones."""
    directory = directory or marc_directory()
    paths = [directory / name for name in MARC_FILES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"The demo catalogue needs the shared MARC files; not found: {', '.join(missing)}"
        )
    return paths


def import_shared_marc(*, paths: list[Path], stdout=None) -> ImportReport:
    return import_marc(paths, default_branch=CENTRAL, progress=False, stdout=stdout)


def is_imported() -> bool:
    """Whether every shared file has records here already (seed_demo then skips the import)."""
    return all(Record.objects.filter(source_key__startswith=f"{source}:").exists() for source in SOURCES)


def demo_records(*, with_children: bool = False):
    """The shared files' records; with the invented children's collection if asked."""
    query = Q()
    for source in SOURCES + ((children.SOURCE,) if with_children else ()):
        query |= Q(source_key__startswith=f"{source}:")
    return Record.objects.filter(query)


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts``: stable across runs and processes."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


@transaction.atomic
def declare_youth_records(*, seed: int) -> int:
    """Demo shaping (see YOUTH_SHARE); returns how many records were changed."""
    records = demo_records(with_children=True)
    total = records.count()
    if not total or records.filter(audience=Audience.YOUTH).count() >= 0.05 * total:
        return 0
    candidates = records.filter(
        doc_type__in=[DocType.BOOK, DocType.COMIC], audience=Audience.ADULT, age_min=None, age_max=None
    ).values_list("id", "source_key")
    by_band: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pk, key in candidates:
        if _unit(seed, "youth", key) < YOUTH_SHARE:
            by_band[AGE_BANDS[int(_unit(seed, "age", key) * len(AGE_BANDS))]].append(pk)
    # One UPDATE per age band: bulk_update's CASE WHEN is slow on a thousand rows.
    for (age_min, age_max), ids in by_band.items():
        Record.objects.filter(pk__in=ids).update(audience=Audience.YOUTH, age_min=age_min, age_max=age_max)
    return sum(map(len, by_band.values()))


@transaction.atomic
def spread_copies(*, seed: int) -> int:
    """Give every demo copy a branch, department and location; return how many moved."""
    placer = Placer.from_network()
    rows = (
        Copy.objects.filter(record__in=demo_records(with_children=True))
        .order_by("barcode", "id")
        .values_list(
            "id", "barcode", "call_number", "doc_type", "status", "source_codes", "record__audience",
            "record__age_max", "branch_id", "department_id", "location_id",
        )
    )  # fmt: skip
    moves: dict[tuple, list[int]] = defaultdict(list)
    for pk, barcode, call_number, doc_type, status, codes, audience, age_max, *where in rows:
        rng = random.Random(f"{seed}:{barcode or pk}")
        known = dewey = dewey_of(call_number)
        if dewey is None:
            dewey = rng.randrange(1000)  # a shelf somewhere in the non-fiction
        if audience == Audience.ADULT and (codes or {}).get("type") in HERITAGE_TYPES:
            kind = "heritage"
        elif audience == Audience.YOUTH:
            # A children's call number without Dewey ("J R MOU", "ADO RIV") is fiction,
            # not a documentary shelved at random.
            kind = kind_of(doc_type=doc_type, audience=audience, age_max=age_max, dewey=known)
        else:
            kind = kind_of(doc_type=doc_type, audience=audience, age_max=age_max, dewey=dewey)
        slot = placer.place(kind, dewey, rng)
        drawn = rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()))[0]
        # Only copies nobody is dealing with: requests and the door own the others.
        new_status = drawn if status == CopyStatus.ON_SHELF else status
        target = (slot.branch_id, slot.department_id, slot.location_id, new_status)
        if (*where, status) != target:
            moves[target].append(pk)
    now = timezone.now()
    # One UPDATE per destination (a few hundred), not a CASE WHEN per row.
    for (branch_id, department_id, location_id, status), ids in moves.items():
        Copy.objects.filter(pk__in=ids).update(
            branch_id=branch_id,
            department_id=department_id,
            location_id=location_id,
            status=status,
            updated_at=now,
        )
    return sum(map(len, moves.values()))
