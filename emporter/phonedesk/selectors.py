"""Reads for the phone desk: finding the caller, what the catalogue has, where staff may act."""

import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.catalogue.search import search_records
from emporter.holds.models import ACTIVE, Bag, Request, Status
from emporter.inputs import without_control_chars
from emporter.network.models import Branch, ServiceMode
from emporter.notices.outbox import address_refused
from emporter.patrons.models import NoticeChannel, Patron, Role
from emporter.patrons.permissions import branches_for

from .apps import fold

MAX_PATRONS = 20
MAX_HITS = 10
# A French number without its trunk "0": "6 12 34 56 78".
NATIONAL_LENGTH = 9
# France, then the overseas departments dialled with their own code: La Réunion and
# Mayotte (262, 269), Guadeloupe (590), French Guiana (594), Martinique (596).
COUNTRY_CODES = ("33", "262", "269", "590", "594", "596")
PHONE_LIKE = re.compile(r"[\d\s+().\-/]+")
# The trigram index (migration 0001) has this exact expression: keep them identical.
NAME = """emporter_fold("patrons_patron"."first_name" || ' ' || "patrons_patron"."last_name")"""
# Trigram indexes need 3 letters; a name look-up needs one word at least that long.
MIN_NAME_WORD = 3
# What parts a name's words (after fold(), which makes every apostrophe and dash plain).
NAME_BREAK = re.compile(r"[\s'-]+")


# -- The caller -------------------------------------------------------------------------


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


def active_requests(patron: Patron) -> list[Request]:
    return list(
        Request.objects.filter(patron=patron, status__in=ACTIVE)
        .select_related("record", "pickup_branch", "copy__branch")
        .order_by("created_at", "pk")
    )


def ready_bags(patron: Patron) -> list[Bag]:
    """The patron's open bags with documents ready, soonest last day first."""
    return list(
        Bag.objects.filter(Exists(Request.objects.filter(bag=OuterRef("pk"), status=Status.READY)))
        .filter(patron=patron, state=Bag.State.OPEN)
        .select_related("branch")
        .order_by("hold_until", "pk")
    )


# -- Where the staff member may act --------------------------------------------------------


def scope(user):
    """Branches where ``user`` may place or cancel phone requests: those of their
    phone-desk roles and the branches they manage; everywhere for a role without a
    branch, a network administrator or a superuser."""
    desk = branches_for(user, Role.PHONE_DESK).values("pk")
    managed = branches_for(user, Role.BRANCH_MANAGER).values("pk")
    return Branch.objects.filter(Q(pk__in=desk) | Q(pk__in=managed))


def may_move_pickup(user, request: Request, *, in_scope: set[int] | None = None) -> bool:
    """May ``user`` move ``request`` to another library? Where it is to be collected must
    be in their scope, unless that library has closed: a closed library is nobody's to
    keep, and an open library's desk takes its callers (Part-Dieu closed, its patrons
    phone Croix-Rousse). The phone desk's page and the staff API ask this one rule; a
    page listing many requests passes the scope's ids (``in_scope``) to ask it once."""
    if request.pickup_branch.service_mode == ServiceMode.CLOSED:
        return True
    if in_scope is not None:
        return request.pickup_branch_id in in_scope
    return scope(user).filter(pk=request.pickup_branch_id).exists()


def pickup_branches(branches: list[Branch]) -> list[Branch]:
    """Of the branches in scope, those taking requests now."""
    return [b for b in branches if b.accepts_requests]


def default_pickup(patron: Patron, options: list[Branch]) -> Branch | None:
    for branch in options:
        if branch.pk == patron.home_branch_id:
            return branch
    return options[0] if options else None


# -- The catalogue ---------------------------------------------------------------------------


@dataclass
class Availability:
    here: int = 0  # requestable copies on the shelf where they will be collected
    elsewhere: list[str] = field(default_factory=list)  # other branches with one

    @property
    def any(self) -> bool:
        return bool(self.here or self.elsewhere)


@dataclass
class Hit:
    record: Record
    availability: Availability


def search_catalogue(q: str, *, here: Branch) -> tuple[list[Hit], int]:
    """The first hits for ``q`` (the catalogue's own search and ranking) with what a
    request could actually take: on-shelf copies in requestable locations."""
    result = search_records(q=q, per_page=MAX_HITS)
    records = [hit.record for hit in result.hits]
    where = availability([r.pk for r in records], here=here)
    return [Hit(r, where[r.pk]) for r in records], result.total


def availability(record_ids: list[int], *, here: Branch) -> dict[int, Availability]:
    found: dict[int, Availability] = defaultdict(Availability)
    copies = (
        Copy.objects.filter(record_id__in=record_ids, status=CopyStatus.ON_SHELF, barcode__isnull=False)
        .exclude(location__requestable=False)
        .exclude(branch__service_mode=ServiceMode.CLOSED)
        .values_list("record_id", "branch_id", "branch__name")
        .order_by("-branch__is_central", "branch__name")
    )
    for record_id, branch_id, branch_name in copies:
        where = found[record_id]
        if branch_id == here.pk:
            where.here += 1
        elif branch_name not in where.elsewhere:
            where.elsewhere.append(branch_name)
    return found


def can_be_told(patron) -> bool:
    """Whether the "ready" message reaches someone (as notices.render.recipient chooses):
    not an address the mail server refused as unknown, whose emails fail at once."""
    return patron.written_to(patron.telling_channel) is not None and not refused_address(patron)


def refused_address(patron) -> str:
    """The address the "ready" email would go to, when the mail server refused it as
    unknown (a child's: their guardian's, perhaps); else ""."""
    if patron.telling_channel != NoticeChannel.EMAIL:
        return ""
    to = patron.written_to(NoticeChannel.EMAIL)
    return to.email if to is not None and address_refused(to) else ""
