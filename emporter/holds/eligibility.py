"""Who may borrow, and which copy a request may take: the patron's card, their limits by
document type, and the copies that could ever serve a request at its pickup library.

Read by placement (``placement``), by the waiting list (``waiting``) and by a change of
pickup library (``services.change_pickup``), so that every path that sets a copy aside
applies the same rules.
"""

from django.db.models import Count, Q
from django.utils import timezone

from emporter.catalogue.models import Copy, DocType
from emporter.errors import ServiceError
from emporter.network.models import Branch
from emporter.patrons.models import Patron

from . import allocation, policy
from .models import ACTIVE, Request


def check_patron(patron: Patron, *, theirs: bool = False) -> None:
    """A blocked card or an expired one asks for nothing and borrows nothing (requests,
    surprise bags, the door; a librarian may override at the door). ``theirs``: said to
    a guardian about the child's card, not "your card" (``child_…`` codes)."""
    if patron.blocked_reason:
        if theirs:
            raise ServiceError("child_blocked", name=patron.first_name, reason=patron.blocked_reason)
        raise ServiceError("patron_blocked", reason=patron.blocked_reason)
    if patron.card_expires and patron.card_expires < timezone.localdate():
        if theirs:
            raise ServiceError("child_card_expired", name=patron.first_name)
        raise ServiceError("card_expired")


def may_borrow(patron: Patron) -> bool:
    """``check_patron`` as a yes or no."""
    try:
        check_patron(patron)
    except ServiceError:
        return False
    return True


def borrowing_patrons(prefix: str = "") -> Q:
    """``may_borrow`` in SQL: a blocked or expired card's waiting requests keep their
    place but take no copy from the queue (the door would refuse the bag, and the next
    patron would wait for nothing); served once the card is in order again."""
    expires = f"{prefix}card_expires"
    in_date = Q(**{f"{expires}__isnull": True}) | Q(**{f"{expires}__gte": timezone.localdate()})
    return Q(**{f"{prefix}blocked_reason": ""}) & in_date


def _types_full(patron: Patron, rules: policy.Policy, *, besides: Request | None = None) -> list[str]:
    """The types whose limit the patron has reached: no copy of them is set aside for
    them, whatever the record's own type says. ``besides``: a waiting request about to
    take a copy, not counted (it counts as the type of what it takes)."""
    if not rules.type_limits:
        return []
    active = Request.objects.filter(patron=patron, status__in=ACTIVE, doc_type__in=list(rules.type_limits))
    if besides is not None:
        active = active.exclude(pk=besides.pk)
    counts = dict(active.values_list("doc_type").annotate(n=Count("pk")).order_by())
    return types_at_limit(rules, counts)


def types_at_limit(rules: policy.Policy, counts: dict[str, int]) -> list[str]:
    """The types whose limit ``counts`` (active requests by type) reach."""
    return [doc_type for doc_type, limit in rules.type_limits.items() if counts.get(doc_type, 0) >= limit]


def taking(copy: Copy) -> dict:
    """A request's fields when it takes ``copy``: it counts as the type of what is set
    aside (the limits are per type: a record "book" whose copy is a DVD is a DVD)."""
    return {"copy": copy, "doc_type": copy.doc_type}


def copies_that_could_serve(record_id: int, pickup_branch_id: int, rules: policy.Policy):
    """The copies that are, or may come back, on a shelf a request collected at
    ``pickup_branch_id`` takes from: lendable ones, at that library only where the rules
    lend a library's own copies only."""
    copies = Copy.objects.lendable().filter(record_id=record_id)
    if not rules.allow_other_branches:
        copies = copies.filter(branch_id=pickup_branch_id)
    return copies


def copies_it_could_take(record_id: int, pickup_branch_id: int, rules: policy.Policy):
    """``copies_that_could_serve``, of the types the rules take requests for: the copies
    a request already made could ever be given (placement refuses a title of no such
    copy, ``type_not_requestable``; no sweep gives a request a copy of another type)."""
    copies = copies_that_could_serve(record_id, pickup_branch_id, rules)
    if rules.requestable_types:
        copies = copies.filter(doc_type__in=rules.requestable_types)
    return copies


def type_label(doc_type: str) -> str:
    return dict(DocType.choices).get(doc_type, doc_type)


def _limits_of(
    request: Request, rules: policy.Policy, *, pickup_branch_id: int | None = None
) -> policy.Policy:
    """The rules whose limits bind ``request``'s patron (their home library's, as at
    placement); ``rules`` are those of ``pickup_branch_id`` (the request's by default)."""
    patron = request.patron
    at_home = (pickup_branch_id or request.pickup_branch_id) == patron.home_branch_id
    return rules if at_home else policy.limits_for(patron)


def types_full_for(
    request: Request, rules: policy.Policy, *, pickup_branch_id: int | None = None
) -> list[str]:
    """The types no copy of which ``request`` may take now: its patron reached their limit
    (the request itself not counted). Every path that sets a copy aside for an existing
    request passes them to ``allocation.take_copy``. ``rules``: the pickup library's
    (``pickup_branch_id``, the request's own by default)."""
    limits = _limits_of(request, rules, pickup_branch_id=pickup_branch_id)
    return _types_full(request.patron, limits, besides=request)


def take_copy_for(request: Request, rules: policy.Policy, *, pickup_branch: Branch | None = None):
    """Set aside a copy for an existing ``request`` (retarget, waiting list, a closed
    library's withdrawal, another pickup library: ``pickup_branch``, whose ``rules`` these
    are): one its rules reach, of a type its patron may still take."""
    pickup_branch = pickup_branch or request.pickup_branch
    return allocation.take_copy(
        record=request.record_id,
        pickup_branch=pickup_branch,
        policy=rules,
        exclude_types=types_full_for(request, rules, pickup_branch_id=pickup_branch.pk),
    )


def types_counted_alone(request: Request, rules: policy.Policy, doc_type: str | None = None) -> bool:
    """Lock the patron's row, as placement does, before a waiting request counts their
    types: a DVD placement not yet committed is not counted, and a DVD coming back
    would make two against a limit of one. Never waits (the caller may hold a copy a
    placement is waiting for): a patron placing at this very moment is passed over, the
    request keeps its place, and the next copy or the sweep comes back to it. No lock
    where no type is limited, nor for a copy (``doc_type``) of a type with no limit: a
    patron row held for another reason (a patron import's batch) passes nobody over then."""
    limited = _limits_of(request, rules).type_limits
    if not limited or (doc_type is not None and doc_type not in limited):
        return True
    locked = Patron.objects.select_for_update(skip_locked=True).filter(pk=request.patron_id)
    return locked.values_list("pk", flat=True).first() is not None


def may_take_type(request: Request, rules: policy.Policy, doc_type: str) -> bool:
    """A waiting request may take a copy of ``doc_type``: requested at its pickup library,
    and within the patron's limit for it (a DVD coming back to someone who has since
    reached the DVD limit goes to the next patron, as placement would refuse it)."""
    if not rules.can_request_type(doc_type):
        return False
    return doc_type not in types_full_for(request, rules)
