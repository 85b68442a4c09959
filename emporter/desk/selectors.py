"""Reads for the door screens: what a scanned card can take home, the hold shelf, the
"back to the shelves" list, receipts and a patron's loans.

The door is served by a patron's own rows only (patron ids first, then indexed
look-ups), so a scan costs the same with 100 or 100,000 bags on the shelves.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.holds.models import Bag, Request, RequestEvent, Status
from emporter.network.models import Branch
from emporter.patrons.models import Patron

from .models import Loan

BACK_TO_SHELVES_DAYS = 7


def find_patron(card_number: str) -> Patron | None:
    card_number = card_number.strip()
    if not card_number:
        return None
    return Patron.objects.filter(card_number=card_number).first()


def household_ids(patron: Patron) -> list[int]:
    """The patron and the children they are guardian of: whose bags they may collect."""
    return [patron.pk, *Patron.objects.filter(guardian=patron).values_list("pk", flat=True)]


@dataclass
class DoorView:
    patron: Patron
    ready: list[Request] = field(default_factory=list)
    not_ready: list[Request] = field(default_factory=list)
    bags: list[Bag] = field(default_factory=list)
    collected_today: list[Loan] = field(default_factory=list)
    # (branch name, count) of documents ready for this card at other branches.
    ready_elsewhere: list[tuple[str, int]] = field(default_factory=list)
    card_expired: bool = False

    @property
    def blocked(self) -> bool:
        return bool(self.patron.blocked_reason)

    @property
    def needs_override(self) -> bool:
        return self.blocked or self.card_expired


def door_view(*, patron: Patron, branch: Branch, today: datetime.date | None = None) -> DoorView:
    """Everything the door librarian needs after a scan, in three small queries (five when
    nothing is ready: then "already handed over today?" and "ready elsewhere?" are asked)."""
    today = today or timezone.localdate()
    ids = household_ids(patron)
    pending = (
        Request.objects.filter(
            patron_id__in=ids,
            pickup_branch=branch,
            status__in=[Status.READY, Status.PLACED, Status.WAITING],
        )
        .select_related("record", "copy", "patron", "bag")
        .order_by("bag__label", "copy__call_number_key", "created_at", "pk")
    )
    view = DoorView(patron=patron, card_expired=bool(patron.card_expires and patron.card_expires < today))
    for request in pending:
        (view.ready if request.status == Status.READY else view.not_ready).append(request)
    view.bags = list({r.bag_id: r.bag for r in view.ready if r.bag_id}.values())
    if not view.ready:
        view.collected_today = loans_checked_out(patron_ids=ids, branch=branch, day=today)
        view.ready_elsewhere = ready_elsewhere(patron_ids=ids, branch=branch)
    return view


def ready_elsewhere(*, patron_ids: list[int], branch: Branch) -> list[tuple[str, int]]:
    """A patron at the wrong door: where their documents are waiting instead."""
    rows = (
        Request.objects.filter(patron_id__in=patron_ids, status=Status.READY)
        .exclude(pickup_branch=branch)
        .values_list("pickup_branch__name")
        .annotate(count=Count("pk"))
        .order_by("pickup_branch__name")
    )
    return list(rows)


def loans_checked_out(*, patron_ids: list[int], branch: Branch, day: datetime.date) -> list[Loan]:
    """Loans made on ``day`` at ``branch``: what "already handed over" points to."""
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    return list(
        Loan.objects.filter(
            patron_id__in=patron_ids,
            branch=branch,
            checked_out_at__gte=start,
            checked_out_at__lt=start + datetime.timedelta(days=1),
        )
        .select_related("copy__record", "patron")
        .order_by("pk")
    )


def receipt_loans(*, loan_ids: list[int], branch: Branch) -> list[Loan]:
    return list(
        Loan.objects.filter(pk__in=loan_ids, branch=branch)
        .select_related("copy__record", "patron")
        .order_by("patron__last_name", "patron__first_name", "due_date", "pk")
    )


DEADLINE_FILTERS = ("today", "tomorrow", "overdue")


def hold_shelf(*, branch: Branch, due: str = "", today: datetime.date | None = None) -> list[Bag]:
    """Open bags sorted by label, each with ``ready_count``; ``due`` narrows by deadline."""
    today = today or timezone.localdate()
    bags = (
        Bag.objects.filter(branch=branch, state=Bag.State.OPEN)
        .select_related("patron")
        .annotate(ready_count=Count("requests", filter=Q(requests__status=Status.READY)))
        .order_by("label")
    )
    if due == "today":
        bags = bags.filter(hold_until=today)
    elif due == "tomorrow":
        bags = bags.filter(hold_until=today + datetime.timedelta(days=1))
    elif due == "overdue":
        bags = bags.filter(hold_until__lt=today)
    return list(bags)


def in_transit_to(branch: Branch) -> list[Request]:
    """Found elsewhere for this branch and still on the way: not in a bag yet."""
    return list(
        Request.objects.filter(pickup_branch=branch, status=Status.PLACED, copy__status=CopyStatus.IN_TRANSIT)
        .select_related("record", "copy__branch", "patron")
        .order_by("patron__last_name", "patron__first_name", "pk")
    )


def coming_home(branch: Branch, limit: int = 500) -> list[Copy]:
    """This library's copies returned at another one, on their way back (then
    ``services.receive_home``), in shelf order."""
    # Where each was handed in: the last return of the copy.
    handed_in_at = (
        Loan.objects.filter(copy=OuterRef("pk"), returned_at__isnull=False)
        .order_by("-returned_at")
        .values("returned_branch__name")[:1]
    )
    return list(
        Copy.objects.filter(branch=branch, status=CopyStatus.IN_TRANSIT)
        .exclude(requests__status__in=[Status.PLACED, Status.READY])
        .select_related("record")
        .annotate(handed_in_at=Subquery(handed_in_at))
        .order_by("call_number_key", "pk")[:limit]
    )


def back_to_shelves(*, branch: Branch, days: int = BACK_TO_SHELVES_DAYS, now=None) -> list[RequestEvent]:
    """Copies of requests that expired here lately, in the order one walks the shelves.

    Each event's copy keeps its current status: ``set_aside`` means it went straight to
    another request (the pick trolley, not the shelf)."""
    now = now or timezone.now()
    return list(
        RequestEvent.objects.filter(
            to_status=Status.EXPIRED, branch=branch, at__gte=now - datetime.timedelta(days=days)
        )
        .exclude(copy=None)
        .select_related("copy__record", "copy__branch", "copy__department", "copy__location")
        .order_by(
            F("copy__department__walking_order").asc(nulls_last=True),
            F("copy__location__walking_order").asc(nulls_last=True),
            "copy__call_number_key",
            "pk",
        )
    )


def loans_of(patron: Patron) -> list[Loan]:
    """A patron's current loans, soonest due first (for the account page)."""
    return list(
        Loan.objects.filter(patron=patron, returned_at__isnull=True)
        .select_related("copy__record")
        .order_by("due_date", "pk")
    )
