"""Reads for the phone desk: finding the caller, what the catalogue has, where staff may act."""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.catalogue.search import search_records
from emporter.holds.models import ACTIVE, Bag, Request, Status
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import Patron, Role
from emporter.patrons.permissions import branches_for

MAX_HITS = 10


# -- The caller -------------------------------------------------------------------------


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


def may_handle(user, request: Request, *, in_scope: set[int] | None = None) -> bool:
    """May ``user`` move ``request`` to another library, or cancel it? Where it is to be
    collected must be in their scope, unless that library has closed: a closed library
    is nobody's to keep, and an open library's desk takes its callers (Part-Dieu closed,
    its patrons phone Croix-Rousse). The phone desk's page and the staff API ask this
    one rule; a page listing many requests passes the scope's ids (``in_scope``) to ask
    it once."""
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
