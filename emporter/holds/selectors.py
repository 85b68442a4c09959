"""Reads about requests."""

from dataclasses import dataclass

from django.db.models import Case, CharField, Count, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, NullIf

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.errors import ServiceError
from emporter.network.models import ServiceMode
from emporter.patrons.models import Patron

from . import policy
from .eligibility import check_patron
from .models import ACTIVE, Request, Status

# Who placed a request, for counting people (Count(PATRON_KEY, distinct=True)): the
# pseudonym survives the anonymisation of the history; the id stands in for requests
# written without one (fixtures, benchmarks).
PATRON_KEY = Coalesce(NullIf("patron_pseudonym", Value("")), Cast("patron_id", CharField()))


def requests_of(patron: Patron, *, limit: int = 100):
    """A patron's requests, the active ones first (ready, then placed, then waiting)."""
    return list(_ranked(Request.objects.filter(patron=patron)).order_by("rank", "-created_at")[:limit])


def active_requests_of_each(patrons: list[Patron], *, limit: int = 100) -> dict[int, list[Request]]:
    """``requests_of`` the requests under way of each of ``patrons`` (a guardian's
    children), in one query, by patron id."""
    found: dict[int, list[Request]] = {p.pk: [] for p in patrons}
    by_pk = {p.pk: p for p in patrons}
    rows = _ranked(Request.objects.filter(patron__in=patrons, status__in=ACTIVE))
    for request in rows.order_by("patron_id", "rank", "-created_at"):
        if len(found[request.patron_id]) < limit:
            request.patron = by_pk[request.patron_id]
            found[request.patron_id].append(request)
    return found


def _ranked(requests):
    order = Case(
        When(status=Status.READY, then=Value(0)),
        When(status=Status.PLACED, then=Value(1)),
        When(status=Status.WAITING, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return requests.select_related("record", "pickup_branch", "bag", "copy__branch").annotate(
        rank=order, queue_position=_queue_position()
    )


def _queue_position():
    """A waiting request's place in its record's queue (1 = next served), in the order
    the waiting list is served (``services.serve_waiting``: oldest first); None otherwise.
    Read through the request_record_queue index."""
    # Requests waiting at a closed library keep their place but are passed over while it
    # is closed (services.release_copy): not ahead of anyone meanwhile.
    ahead = (
        Request.objects.filter(record_id=OuterRef("record_id"), status=Status.WAITING)
        .exclude(pickup_branch__service_mode=ServiceMode.CLOSED)
        .filter(
            Q(created_at__lt=OuterRef("created_at"))
            | Q(created_at=OuterRef("created_at"), pk__lt=OuterRef("pk"))
        )
        .order_by()
        .values("record_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Case(
        When(status=Status.WAITING, then=Coalesce(Subquery(ahead, output_field=IntegerField()), 0) + 1),
        default=None,
        output_field=IntegerField(),
    )


def active_count(patron: Patron) -> int:
    return Request.objects.filter(patron=patron, status__in=ACTIVE).count()


def active_pickups_at(branch) -> int:
    """How many requests under way are to be collected at ``branch``, those whose copy is
    set aside there apart (``set_aside_at`` counts them: they move or are cancelled)."""
    return (
        Request.objects.filter(pickup_branch=branch, status__in=ACTIVE)
        .exclude(status=Status.PLACED, copy__branch=branch, copy__status=CopyStatus.SET_ASIDE)
        .count()
    )


def to_collect_at(branch) -> int:
    """How many requests under way are to be collected at ``branch``, whatever their step."""
    return Request.objects.filter(pickup_branch=branch, status__in=ACTIVE).count()


def set_aside_at(branch) -> int:
    """How many requests wait for a copy set aside at ``branch`` (not pulled yet)."""
    return Request.objects.filter(
        status=Status.PLACED, copy__branch=branch, copy__status=CopyStatus.SET_ASIDE
    ).count()


@dataclass
class BasketView:
    """What the basket page says of its documents, before anything is confirmed."""

    # each with ``on_site_only``, ``none_here``, ``type_not_taken``, ``no_waiting_list``
    # and ``all_out`` set
    records: list
    already_requested: list  # records the patron has an active request for
    at_home: list  # records the patron has on loan (services: already_on_loan)
    active: int  # the patron's active requests
    room: int | None  # how many more the rules allow (None: nobody signed in)
    to_confirm: int  # the records the confirmation would send

    @property
    def over_limit(self) -> bool:
        return self.room is not None and self.to_confirm > self.room


def room_left(patron: Patron, active: int) -> int:
    """How many more requests ``patron``, with ``active`` under way, may place (their own
    library's limit, wherever they collect: policy.limits_for)."""
    return max(0, policy.limits_for(patron).max_active - active - policy.promised_places(patron))


def basket_view(
    *, patron: Patron | None, records: list, pickup_branch=None, category: str = ""
) -> BasketView:
    """The basket's ``records`` as the patron would find them confirmed: already
    requested (requesting them again could never work), to consult on site only (not
    sent, not counted), every copy out (they join a waiting list instead of being pulled
    tomorrow), and how many more the patron's limit allows (their own library's limit,
    wherever they collect: policy.limits_for). At a ``pickup_branch`` whose rules (for
    ``category``) lend only its own copies, as confirming would find them there: none of
    its own (``none_here``: refused, none_of_its_own), or its own all out (``all_out``);
    where it takes no request for their copies' types (``type_not_taken``: refused,
    type_not_requestable), or keeps no waiting list while every copy is out
    (``no_waiting_list``: refused, nothing_on_shelf), as confirming would find them."""
    ids = [r.pk for r in records]
    requested, home = set(), set()
    if patron:
        mine = Request.objects.filter(patron=patron, status__in=ACTIVE, record_id__in=ids)
        requested = set(mine.values_list("record_id", flat=True))
        # Through the copies' loans (the desk writes them; no import of it here).
        lent = Copy.objects.filter(record_id__in=ids, loans__patron=patron, loans__returned_at__isnull=True)
        home = set(lent.values_list("record_id", flat=True)) - requested
    kept = [r for r in records if r.pk not in requested and r.pk not in home]
    lendable = set(Record.objects.filter(pk__in=ids).lendable().values_list("pk", flat=True))
    rules = policy.resolve(branch=pickup_branch, category=category) if pickup_branch else None
    # The copies a request collected there could take: its own only, where the rules say
    # so; of a type it takes requests for (placement: type_not_requestable).
    could = Copy.objects.filter(record_id__in=ids)
    if rules is not None and not rules.allow_other_branches:
        could = could.filter(branch=pickup_branch)
    lendable_here = set(could.lendable().values_list("record_id", flat=True)) if rules else lendable
    if rules is not None and rules.requestable_types:
        could = could.filter(doc_type__in=rules.requestable_types)
    of_a_type_taken = set(could.lendable().values_list("record_id", flat=True)) if rules else lendable
    on_shelf = set(could.requestable().values_list("record_id", flat=True))
    for record in kept:
        record.on_site_only = record.pk not in lendable
        record.none_here = not record.on_site_only and record.pk not in lendable_here
        refused = record.on_site_only or record.none_here
        record.type_not_taken = not refused and record.pk not in of_a_type_taken
        out = not (refused or record.type_not_taken) and record.pk not in on_shelf
        # Every copy out where no waiting list is kept: refused (nothing_on_shelf), not queued.
        record.no_waiting_list = out and rules is not None and not rules.allow_waiting_list
        record.all_out = out and not record.no_waiting_list
    active = active_count(patron) if patron else 0
    return BasketView(
        records=kept,
        already_requested=[r for r in records if r.pk in requested],
        at_home=[r for r in records if r.pk in home],
        active=active,
        room=room_left(patron, active) if patron else None,
        to_confirm=sum(not record.on_site_only for record in kept),
    )


def card_refusal(patron, *, theirs: bool = False) -> str:
    """Why this patron may request or renew nothing now (an expired or blocked card), or "".
    ``theirs``: said to their guardian, about the child's card, not "your card"."""
    if patron is None:
        return ""
    try:
        check_patron(patron, theirs=theirs)
    except ServiceError as error:
        return error.message
    return ""
