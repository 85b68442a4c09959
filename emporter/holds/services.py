"""The holds app's front door: every write about requests, as the other apps and the
pages call it (``from emporter.holds.services import place_request``,
``services.expire_overdue(...)``).

Written here: cancelling a request (or closing it as lent at the door), a librarian
changing a copy's status, collecting somewhere else, telling patrons their pickup
library closed, and forgetting who placed closed requests. The rest lives by topic and
is re-exported below: placing requests (``placement``), who may take which copy
(``eligibility``), the waiting list and copies coming free (``waiting``), bags on the
hold shelf (``bags``). A test replacing one of those functions replaces it in its own
module (``monkeypatch.setattr("emporter.holds.waiting._serve_one", ...)``): replaced
here, it would only change what callers of this module get.
"""

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from emporter import adminlog
from emporter.catalogue.models import HAND_SET_STATUSES, Copy, CopyStatus
from emporter.errors import ServiceError
from emporter.network.models import Branch, ServiceMode, closed_for_a_while

from . import policy
from .bags import (
    KEEP_AT_MOST_DAYS,
    close_bag_if_done,
    copy_in_hand,
    expire_overdue,
    extend_after_reopening,
    forget_empty_bags,
    hold_deadline,
    keep_bag_until,
    make_ready,
    release_copy_in_hand,
    spare_closed_last_days,
    still_in_a_bag,
)
from .eligibility import (
    borrowing_patrons,
    check_patron,
    copies_it_could_take,
    may_borrow,
    take_copy_for,
    taking,
    type_label,
    types_full_for,
)
from .lifecycle import record_event, transition
from .models import ACTIVE, Request, RequestEvent, Status, patron_pseudonym
from .placement import Outcome, call_fingerprint, place_request, place_requests
from .waiting import (
    close_waiting_without_copies,
    free_held_copy,
    release_copy,
    retarget_or_close,
    serve_queue_first,
    serve_waiting,
    stranded_waiting,
)

__all__ = [
    # placement
    "Outcome",
    "call_fingerprint",
    "place_request",
    "place_requests",
    # eligibility
    "borrowing_patrons",
    "check_patron",
    "may_borrow",
    "take_copy_for",
    "types_full_for",
    # waiting
    "close_waiting_without_copies",
    "free_held_copy",
    "release_copy",
    "retarget_or_close",
    "serve_waiting",
    "stranded_waiting",
    # bags
    "KEEP_AT_MOST_DAYS",
    "close_bag_if_done",
    "copy_in_hand",
    "expire_overdue",
    "extend_after_reopening",
    "forget_empty_bags",
    "hold_deadline",
    "keep_bag_until",
    "make_ready",
    "release_copy_in_hand",
    "spare_closed_last_days",
    "still_in_a_bag",
    # here
    "LENT_ANOTHER_COPY",
    "cancel_request",
    "change_pickup",
    "close_as_lent",
    "forget_patrons",
    "pickup_changeable",
    "set_copy_status",
    "tell_closed_pickups",
]


def cancel_request(*, request: Request, actor=None, reason: str = "", by_staff: bool = False) -> Request:
    """Cancel a request not yet collected; its copy goes where it now belongs
    (``free_held_copy``) and its bag closes if nothing ready is left in it."""
    with transaction.atomic():
        request = Request.objects.select_for_update(of=("self",)).get(pk=request.pk)
        if request.status not in ACTIVE:
            raise ServiceError("not_cancellable")
        if request.copy_id is not None:
            # Locked and read after the request, not joined to it: a picker who held the
            # request may just have put this copy in a bag, or moved the request to another
            # copy; a joined row would be the one read before that lock wait.
            request.copy = Copy.objects.select_for_update(of=("self",)).get(pk=request.copy_id)
        transition(
            request,
            Status.CANCELLED,
            actor=actor,
            reason="staff" if by_staff else "patron",
            note=reason,
        )
        if request.copy is not None:
            free_held_copy(copy=request.copy, pickup_branch_id=request.pickup_branch_id, actor=actor)
        close_bag_if_done(bag_id=request.bag_id)
    return request


# The reason of a request closed by ``close_as_lent`` (no notice reads it).
LENT_ANOTHER_COPY = "lent_another_copy"


def close_as_lent(*, request: Request, actor=None, note: str = "") -> Request:
    """The patron was lent another copy of the title at the door (an expired bag's,
    ``desk.services.lend_expired``): their request for it is filled, as Koha fills a
    patron's own hold at check-out. Cancelled with a reason of its own, which no notice
    tells (the patron has the document in hand); its copy goes where it now belongs
    (``free_held_copy``: to the next patron waiting) and its bag closes if nothing ready
    is left in it. ``request``: active, locked by the caller, before any copy."""
    copy = None
    if request.copy_id is not None:
        # Locked after the request, as ``cancel_request`` does.
        copy = Copy.objects.select_for_update(of=("self",)).get(pk=request.copy_id)
    transition(request, Status.CANCELLED, actor=actor, reason=LENT_ANOTHER_COPY, note=note)
    if copy is not None:
        free_held_copy(copy=copy, pickup_branch_id=request.pickup_branch_id, actor=actor)
    close_bag_if_done(bag_id=request.bag_id)
    return request


def set_copy_status(*, copy_id: int, seen: str, status: str, actor=None) -> Request | None:
    """A librarian marks a copy missing, withdrawn or back on its shelf (the admin).

    Guarded by the status the librarian saw: a copy a request took, or a loan, since the
    page was opened is left alone (``copy_status_changed``). Back on its shelf, it goes
    to the oldest waiting request first (``release_copy``), as a copy found again does.
    Returns the request served, if any."""
    with transaction.atomic():
        copy = Copy.objects.select_for_update(of=("self",)).get(pk=copy_id)
        if copy.status != seen:
            raise ServiceError(
                "copy_status_changed", barcode=copy.barcode or copy.pk, status=copy.get_status_display()
            )
        if seen not in HAND_SET_STATUSES or status not in HAND_SET_STATUSES:
            raise ValueError(f"{seen} -> {status}: circulation's statuses change through circulation")
        if status == seen:
            return None
        if status == CopyStatus.ON_SHELF:
            return release_copy(copy=copy, actor=actor)
        Copy.objects.filter(pk=copy.pk).update(status=status, updated_at=timezone.now())
    return None


def forget_patrons(*, request_ids: list[int]) -> int:
    """Forget who placed these closed requests (their loans are anonymised): no patron,
    no bag (a bag is one patron's), no idempotency key (one basket's), no card holder's
    account as the placer or the actor of their events (theirs, or a guardian's who
    placed it for their child; staff accounts stay), staff notes on them are blanked, no
    surprise bag lists it. Dates, branch, record, copy, channel and the pseudonym stay:
    what the statistics read. Returns how many requests were forgotten."""
    requests = Request.objects.filter(pk__in=request_ids, patron__isnull=False).exclude(status__in=ACTIVE)
    # Written without a pseudonym (before it existed, or by a fixture): given one now.
    for patron_id in set(requests.filter(patron_pseudonym="").values_list("patron_id", flat=True)):
        requests.filter(patron_id=patron_id).update(patron_pseudonym=patron_pseudonym(patron_id))
    # Any card holder's account, not only the patron's own: a guardian placing for their
    # child would name the child's household (a patron's account is never staff's).
    RequestEvent.objects.filter(request__in=requests, actor__patron__isnull=False).update(actor=None)
    # What staff typed about it ("Mme Martin a appelé, hospitalisée…") names them too; the
    # patron was told it when it mattered (the cancellation's email).
    RequestEvent.objects.filter(request__in=requests).exclude(note="").update(note="")
    requests.filter(placed_by__patron__isnull=False).update(placed_by=None)
    # A surprise bag names its patron: its link to the request would say who borrowed it.
    Request.surprise_requests.through.objects.filter(request__in=requests).delete()
    bag_ids = list(requests.filter(bag__isnull=False).values_list("bag_id", flat=True).distinct())
    adminlog.forget_lines(Request, list(requests.values_list("pk", flat=True)))
    forgotten = requests.update(patron=None, bag=None, idempotency_key=None)
    forget_empty_bags(bag_ids)
    return forgotten


# -- Collecting somewhere else ------------------------------------------------------------


def pickup_changeable(request: Request) -> bool:
    """Nothing has left a shelf for the old library yet: the request waits for a copy,
    or its copy is still set aside on its shelf, at a library that lends (one that has
    closed moves it first: to another copy, or back on the waiting list).
    ``request.copy`` and its branch must be loaded."""
    if request.status == Status.WAITING:
        return True
    return (
        request.status == Status.PLACED
        and request.copy.status == CopyStatus.SET_ASIDE
        and request.copy.branch.service_mode != ServiceMode.CLOSED
    )


def change_pickup(*, request: Request, branch: Branch, actor=None) -> Request:
    """Collect at ``branch`` instead (Koha and Evergreen let patrons do it until the
    document is on its way). The copy set aside stays when the new library may have it
    (its own, or any when copies travel); otherwise one at the new library is taken and
    the old one goes back to its shelf, for whoever waits for it. When the new library
    may have no copy at all the change is refused (``pickup_no_copy``): it would leave
    the patron worse off than before."""
    if not branch.accepts_requests:
        raise ServiceError("branch_not_accepting", branch=branch.name)
    with transaction.atomic():
        request = Request.objects.select_for_update(of=("self",)).select_related("patron").get(pk=request.pk)
        if request.pickup_branch_id == branch.pk:
            return request
        if request.copy_id is not None:
            # Locked and read now, not joined to the request: a picker who held the
            # request may have just sent this copy on its way. Copies before the record
            # (taking another copy below locks it): the order every writer keeps.
            locked_copy = Copy.objects.select_for_update(of=("self",)).select_related("branch")
            request.copy = locked_copy.get(pk=request.copy_id)
        if request.status not in ACTIVE:  # cancelled, collected, expired: nothing to collect
            raise ServiceError("not_active")
        if not pickup_changeable(request):
            raise ServiceError("pickup_not_changeable")
        rules = policy.resolve(branch=branch, category=request.patron.category)
        if not rules.can_request_type(request.doc_type):
            raise ServiceError("type_not_requestable", doc_type=type_label(request.doc_type))  # the copy's
        fields, freed = {"pickup_branch": branch}, None
        copy_stays = request.copy is None or request.copy.branch_id == branch.pk or rules.allow_other_branches
        could_serve = copies_it_could_take(request.record_id, branch.pk, rules)
        if request.copy is None and not could_serve.exists():
            # Waiting, to a library that lends only its own copies and has none of the
            # title, or none of a type it takes requests for: it would wait there for good.
            raise ServiceError("pickup_no_copy", branch=branch.name)
        if not copy_stays:
            copy = take_copy_for(request, rules, pickup_branch=branch)
            if copy is None:
                raise ServiceError("pickup_no_copy", branch=branch.name)
            freed, fields = request.copy, fields | taking(copy) | {"placed_at": timezone.now()}
        transition(request, request.status, actor=actor, reason="pickup_changed", **fields)
        if freed is not None:
            release_copy(copy=freed, actor=actor)
    if request.status == Status.WAITING:
        # Moved off a closed library, or to one whose own copy is on its shelf: the copy
        # it may take now goes to the title's queue, oldest first, not to whoever asks
        # for the title before the sweep. Once the move is committed (at once, unless a
        # caller's transaction holds it), as a placement left waiting is served.
        transaction.on_commit(lambda: _serve_after_move(request), robust=True)
    return request


def _serve_after_move(request: Request) -> None:
    serve_queue_first(request.record_id)
    request.refresh_from_db(fields=["status", "copy", "doc_type", "placed_at"])


def tell_closed_pickups(*, limit: int = 500, actor=None) -> int:
    """Patrons whose requests are to be collected at a library that has closed are told
    once per closing: an event (no change of status) that the notices turn into one
    email per patron and library, saying what waits there and how to collect elsewhere.
    Run by the scheduler; safe to run often; ``limit`` patrons a pass. Returns how many
    requests were marked."""
    told = RequestEvent.objects.filter(
        request=OuterRef("pk"), reason="pickup_closed", at__gte=OuterRef("pickup_branch__mode_changed_at")
    )
    # A copy set aside at a closed library is first moved elsewhere or the request
    # cancelled (picking's withdraw sweep): telling the patron to choose another library
    # for it, then that it is cancelled, would contradict itself.
    pending_withdrawal = Q(
        status=Status.PLACED, copy__status=CopyStatus.SET_ASIDE, copy__branch__service_mode=ServiceMode.CLOSED
    )
    # ... and a patron with one such request hears of the closing once, for all of them,
    # once it is moved: not now for the others and again after the sweep.
    still_to_move = Request.objects.filter(
        pending_withdrawal, patron=OuterRef("patron"), pickup_branch=OuterRef("pickup_branch")
    )
    at_closed = Request.objects.filter(closed_for_a_while("pickup_branch__"), status__in=ACTIVE)
    untold = at_closed.exclude(Exists(told)).exclude(pending_withdrawal).exclude(Exists(still_to_move))
    marked = 0
    # Patron by patron, all their requests in one transaction: the composer, running
    # between two passes, must never find half of a patron's requests told.
    patrons = untold.order_by("patron_id").values_list("patron_id", flat=True).distinct()
    for patron_id in list(patrons[:limit]):
        with transaction.atomic():
            # Locked and looked at again: two schedulers must not tell them twice.
            requests = list(
                untold.select_for_update(skip_locked=True, of=("self",)).filter(patron_id=patron_id)
            )
            for request in requests:
                record_event(request, old=request.status, actor=actor, reason="pickup_closed")
            marked += len(requests)
    return marked
