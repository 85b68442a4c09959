"""Writes for surprise bags: asking for one, cancelling it, composing it.

Composing places ordinary requests through holds.services.place_requests, so every
limit, the copy set aside and the rest of the flow (pick run, email, door) are the
usual ones; the surprise bag only remembers which requests it produced.
"""

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from emporter.errors import ServiceError
from emporter.holds.models import Channel
from emporter.holds.services import Outcome, call_fingerprint, check_patron, place_requests
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import Patron

from .kinds import Kind
from .models import SurpriseRequest, SurpriseStatus
from .selectors import remaining_allowance


def create_surprise_request(
    *,
    asked_by: Patron,
    patron: Patron,
    pickup_branch: Branch,
    how_many: int,
    age: int | None = None,
    kinds: Iterable[str] = (),
    tastes: str = "",
    avoid: str = "",
    key: str | None = None,
) -> SurpriseRequest:
    """A patron asks for a bag for themselves or for one of their children. ``key``: the
    ask form's (one per rendering); sent again, it answers with the bag the first made."""
    if patron.pk != asked_by.pk and patron.guardian_id != asked_by.pk:
        raise ServiceError("surprise_not_yours")
    # Before any refusal: a retry gets what the first send made, whatever changed since
    # (the bag itself now takes the allowance the first send checked).
    if first := _asked_before(asked_by, key, patron):
        return first
    # The same refusals as a request's, said now rather than when the librarian composes;
    # to a guardian, about the child's card ("Lina's card"), as the basket says it.
    check_patron(patron, theirs=patron.pk != asked_by.pk)
    if not pickup_branch.accepts_requests:
        raise ServiceError("branch_not_accepting", branch=pickup_branch.name)
    kinds = [k for k in dict.fromkeys(kinds) if k in Kind.values]
    fields = {
        "how_many": how_many,
        "age": age,
        "kinds": kinds,
        "tastes": tastes.strip(),
        "avoid": avoid.strip(),
    }
    with transaction.atomic():
        # The patron's row lock serialises this with their placements (holds.services).
        if Patron.objects.select_for_update().filter(pk=patron.pk).first() is None:
            raise ServiceError("patron_gone")  # erased while this waited for their row
        if first := _asked_before(asked_by, key, patron):  # the same form, sent while this waited
            return first
        left = remaining_allowance(patron=patron)
        # To a guardian, about the child's card (as check_patron(theirs=) says it): "you
        # can ask for 1 more" under a page saying the guardian may ask for 7 is a puzzle.
        theirs = patron.pk != asked_by.pk
        if not left:  # "0 more documents" reads like a fault: said as the basket says it
            if theirs:
                raise ServiceError("child_surprise_no_allowance", name=patron.first_name)
            raise ServiceError("surprise_no_allowance")
        if how_many > left:
            if theirs:
                raise ServiceError("child_surprise_over_limit", name=patron.first_name, left=left)
            raise ServiceError("surprise_over_limit", left=left)
        return _create(asked_by, patron, pickup_branch, key, fields)


def _asked_before(asked_by: Patron, key: str | None, patron: Patron) -> SurpriseRequest | None:
    """The bag this form (``key``) already asked for, if any. For another reader (the
    page's Back button, another child chosen): refused, saying for whom it was asked; it
    answered with the first bag, and the child got none while the page said done."""
    if not key:
        return None
    first = SurpriseRequest.objects.filter(asked_by=asked_by, ask_key=key).select_related("patron").first()
    if first is not None and first.patron_id != patron.pk:
        raise ServiceError("surprise_form_used", name=first.patron.first_name)
    return first


def _create(asked_by: Patron, patron: Patron, pickup_branch: Branch, key: str | None, fields: dict):
    try:
        with transaction.atomic():  # a savepoint: the bag the other send made is read after
            return SurpriseRequest.objects.create(
                patron=patron, asked_by=asked_by, pickup_branch=pickup_branch, ask_key=key or None, **fields
            )
    except IntegrityError:
        # surprise_ask_once: the same key sent at once for another reader (whose row lock
        # did not serialise the two); the first send's bag is the answer.
        if first := _asked_before(asked_by, key, patron):
            return first
        raise


def _place(surprise: SurpriseRequest, record_ids: list[int], actor) -> list[Outcome]:
    """The bag's documents as ordinary requests, keyed by the bag: a form sent twice
    replays what the first placed."""
    return place_requests(
        patron=surprise.patron,
        record_ids=record_ids,
        pickup_branch=surprise.pickup_branch,
        channel=Channel.SURPRISE,
        actor=actor,
        idempotency_key=f"surprise:{surprise.pk}",
    )


def _composed_again(surprise: SurpriseRequest, record_ids: list[int], actor) -> list[Outcome]:
    """The same form sent again (a double click, a reload after a time-out): what the
    first placed, replayed, and nothing more (a document it could not place then is not
    placed now, in a bag already made up). Other documents chosen for a bag already made
    up (a second librarian) are refused as before."""
    placed = list(surprise.requests.order_by("pk"))
    same_form = placed and all(
        r.idempotency_fingerprint == call_fingerprint(record_ids, surprise.pickup_branch) for r in placed
    )
    if not same_form:
        raise ServiceError("surprise_not_open")
    return [Outcome(r.record_id, request=r, replayed=True) for r in placed]


def cancel_stranded(*, limit: int = 500, now=None) -> int:
    """Open surprise bags asked for a library that has stopped taking requests (closed,
    or back to normal service, for ``CLOSING_GRACE`` at least: a mistaken click cancels
    nothing): no librarian will compose them there, and they keep the patron's places.
    Cancelled, and their patron told (``to_tell``, which notices.compose reads).
    Returns how many."""
    since = (now or timezone.now()) - datetime.timedelta(seconds=settings.CLOSING_GRACE)
    stranded = (
        SurpriseRequest.objects.filter(status=SurpriseStatus.OPEN, pickup_branch__mode_changed_at__lte=since)
        .exclude(pickup_branch__service_mode=ServiceMode.CLICK_COLLECT)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # Guarded: a librarian composing it meanwhile wins (compose_surprise_request locks it).
    return SurpriseRequest.objects.filter(pk__in=list(stranded[:limit]), status=SurpriseStatus.OPEN).update(
        status=SurpriseStatus.CANCELLED, to_tell=True
    )


def cancel_surprise_request(*, surprise: SurpriseRequest) -> bool:
    """Only an open bag can be cancelled; returns False when a librarian got there first."""
    return bool(
        SurpriseRequest.objects.filter(pk=surprise.pk, status=SurpriseStatus.OPEN).update(
            status=SurpriseStatus.CANCELLED
        )
    )


def compose_surprise_request(*, surprise: SurpriseRequest, record_ids: Iterable[int], actor) -> list[Outcome]:
    """Place the chosen documents for the patron and close the bag as composed.

    The bag's row is locked, so two librarians composing the same bag place it once;
    the idempotency key makes a resubmitted form replay instead of placing again."""
    record_ids = list(dict.fromkeys(record_ids))
    if not record_ids:
        raise ServiceError("surprise_empty")
    with transaction.atomic():
        surprise = (
            # Only the bag's row: locking its patron and branch too would hold up every
            # request placed for that branch (bag labels lock the branch row) meanwhile.
            SurpriseRequest.objects.select_for_update(of=("self",))
            .select_related("patron", "pickup_branch")
            .get(pk=surprise.pk)
        )
        if surprise.status == SurpriseStatus.COMPOSED:
            return _composed_again(surprise, record_ids, actor)
        if surprise.status != SurpriseStatus.OPEN:
            raise ServiceError("surprise_not_open")
        # Asked for a child by a guardian who no longer is (a family's cards re-imported
        # since): not composed on the child's card behind the new guardian's back.
        if surprise.asked_by_id not in (surprise.patron_id, surprise.patron.guardian_id):
            raise ServiceError("surprise_not_guardian_now")
        if len(record_ids) > surprise.how_many:
            raise ServiceError("surprise_too_many", n=surprise.how_many)
        # Its places become its requests: not held twice while they are placed (the
        # patron's limit counts an open bag's, holds.policy.promised_places).
        SurpriseRequest.objects.filter(pk=surprise.pk).update(status=SurpriseStatus.COMPOSED)
        outcomes = _place(surprise, record_ids, actor)
        placed = [o.request for o in outcomes if o.ok]
        if not placed:
            SurpriseRequest.objects.filter(pk=surprise.pk).update(status=SurpriseStatus.OPEN)
        if placed:
            surprise.requests.add(*placed)
            surprise.status = SurpriseStatus.COMPOSED
            surprise.composed_by = actor
            surprise.composed_at = timezone.now()
            surprise.save(update_fields=["status", "composed_by", "composed_at"])
    return outcomes
