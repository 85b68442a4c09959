"""Where a copy goes on the demo network's shelves.

A *kind* (``album``, ``dvd``, ``nonfiction``…) names what a location holds; each
``LocationSpec`` in ``network.py`` lists its kinds. ``Placer`` picks a branch for a
kind (bigger branches more often) and the matching department and location there.
Kinds a branch lacks fall back along ``FALLBACKS`` (a youth DVD goes to the DVDs of
a branch without a youth DVD shelf).
"""

import bisect
import random
import re
from dataclasses import dataclass

from emporter.catalogue.models import Audience, DocType
from emporter.network.models import Location

from .network import BRANCHES

FALLBACKS = {
    "youth_dvd": ("dvd",),
    "youth_cd": ("cd",),
    "dvd_doc": ("dvd",),
    "foreign_fiction": ("fiction",),
    "regional": ("nonfiction",),
    "heritage": ("regional",),
    "game": ("youth_nonfiction",),
    "audiobook": ("fiction",),
    "score": ("cd",),
}


@dataclass(frozen=True)
class Slot:
    branch_id: int
    department_id: int
    location_id: int
    dewey: tuple[int, int] | None


class Placer:
    def __init__(self, slots: dict[str, list[tuple[str, Slot]]], weights: dict[str, int]):
        self._slots = slots  # kind -> [(branch code, slot)]
        self._weights = weights
        self._cache: dict[tuple[str, int | None], tuple[list[float], list[Slot]]] = {}

    @classmethod
    def from_network(cls) -> "Placer":
        specs = {
            (b.code, d.code, loc.code): loc for b in BRANCHES for d in b.departments for loc in d.locations
        }
        slots: dict[str, list[tuple[str, Slot]]] = {}
        rows = Location.objects.values_list(
            "department__branch__code",
            "department__code",
            "code",
            "department__branch_id",
            "department_id",
            "id",
        ).order_by("department__branch__code", "department__walking_order", "walking_order", "id")
        for b_code, d_code, l_code, branch_id, department_id, location_id in rows:
            spec = specs.get((b_code, d_code, l_code))
            if spec is None:  # added by an administrator: not ours to fill
                continue
            slot = Slot(branch_id, department_id, location_id, spec.dewey)
            for kind in spec.kinds:
                slots.setdefault(kind, []).append((b_code, slot))
        return cls(slots, {b.code: b.weight for b in BRANCHES})

    def place(self, kind: str, dewey: int | None, rng: random.Random) -> Slot:
        key = (kind, None if dewey is None else dewey // 10)
        if key not in self._cache:
            self._cache[key] = self._candidates(kind, dewey)
        cumulative, slots = self._cache[key]
        return slots[bisect.bisect(cumulative, rng.random() * cumulative[-1])]

    def _candidates(self, kind: str, dewey: int | None) -> tuple[list[float], list[Slot]]:
        for k in (kind, *FALLBACKS.get(kind, ()), "nonfiction"):
            per_branch: dict[str, Slot] = {}
            for code, slot in self._slots.get(k, ()):
                fits = slot.dewey is None or dewey is None or slot.dewey[0] <= dewey <= slot.dewey[1]
                if fits and code not in per_branch:
                    per_branch[code] = slot
            if per_branch:
                cumulative, total = [], 0.0
                for code in per_branch:
                    total += self._weights[code]
                    cumulative.append(total)
                return cumulative, list(per_branch.values())
        raise LookupError(f"no demo location holds {kind!r}: is the network built?")


# --- Kinds of imported copies ---

DEWEY = re.compile(r"^(?:J\s+)?(\d{3})(?:\.\d+)?(?:\s|$)")
LC_CLASS = re.compile(r"^([A-Z]{1,3})\s*\d")
# Library of Congress classes, roughly, to the Dewey hundreds the central library
# shelves by (the shared test files are from North American libraries).
LC_TO_DEWEY = {
    "A": 0, "Z": 20, "B": 100, "BL": 200, "BR": 200, "BX": 200, "C": 900, "D": 940, "E": 970,
    "F": 970, "FC": 971, "G": 910, "H": 300, "J": 320, "K": 340, "L": 370, "M": 780, "ML": 780,
    "MT": 780, "N": 700, "P": 800, "PQ": 840, "PS": 810, "Q": 500, "R": 610, "S": 630, "T": 600,
    "U": 355, "V": 359,
}  # fmt: skip


def dewey_of(call_number: str) -> int | None:
    """The Dewey class (0–999) a call number points to, when it says."""
    text = (call_number or "").strip().upper()
    if m := DEWEY.match(text):
        return int(m.group(1))
    if m := LC_CLASS.match(text):
        letters = m.group(1)
        for prefix in (letters, letters[:2], letters[:1]):
            if prefix in LC_TO_DEWEY:
                return LC_TO_DEWEY[prefix]
    return None


def kind_of(*, doc_type: str, audience: str, age_max: int | None, dewey: int | None) -> str:
    youth = audience == Audience.YOUTH
    match doc_type:
        case DocType.DVD:
            return "youth_dvd" if youth else "dvd"
        case DocType.CD:
            return "youth_cd" if youth else "cd"
        case DocType.COMIC:
            return "youth_comic" if youth else "comic"
        case DocType.SCORE | DocType.PERIODICAL | DocType.GAME | DocType.AUDIOBOOK:
            return "youth_fiction" if youth and doc_type == DocType.AUDIOBOOK else str(doc_type)
    literature = dewey is not None and 800 <= dewey < 900
    if youth:
        if dewey is not None and not literature:  # "J 590 ANI", whatever the age
            return "youth_nonfiction"
        if age_max is not None and age_max <= 6:
            return "album"
        if age_max is not None and age_max <= 8:
            return "first_reader"
        return "youth_fiction"  # literature, or a children's call number without Dewey
    return "fiction" if literature else "nonfiction"
