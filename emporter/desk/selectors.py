"""Reads for the door screens: what a scanned card can take home, the hold shelf, the
"back to the shelves" list, receipts and a patron's loans.

The door is served by a patron's own rows only (patron ids first, then indexed
look-ups), so a scan costs the same with 100 or 100,000 bags on the shelves.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus, DocType
from emporter.curbside.models import Appointment
from emporter.holds.models import HOLDING_COPY, UNCOLLECTED, Bag, Request, RequestEvent, Status
from emporter.holds.services import still_in_a_bag as in_a_bag
from emporter.holds.waiting import may_be_served_from
from emporter.network.models import Branch
from emporter.patrons.models import Patron
from emporter.patrons.search import PHONE_LIKE, find_patrons, name_too_short, patrons_named
from emporter.picking.models import LineStatus, PickLine
from emporter.picking.services import walking_keys

from .models import Loan, LoanPolicy

BACK_TO_SHELVES_DAYS = 7
# Patrons listed for a name typed at the door: more would not be read anyway.
MAX_MATCHES = 20


# A copy scanned at Returns again this soon after its return here is the same return
# (a scanner's double send, a reload), not a copy nobody lent.
RETURNED_AGAIN_WITHIN = datetime.timedelta(minutes=15)


def returned_here_lately(copy: Copy, *, branch: Branch) -> Loan | None:
    """The loan of ``copy`` returned at ``branch`` within ``RETURNED_AGAIN_WITHIN``."""
    since = timezone.now() - RETURNED_AGAIN_WITHIN
    lately = Loan.objects.filter(copy=copy, returned_branch=branch, returned_at__gte=since)
    return lately.order_by("-returned_at").first()


def find_patron(card_number: str) -> Patron | None:
    card_number = card_number.strip()
    if not card_number:
        return None
    return Patron.objects.with_card(card_number).first()


def ready_copy(barcode: str, *, branch: Branch) -> Request | None:
    """The ready request at ``branch`` whose copy has this barcode, if any."""
    return (
        Request.objects.filter(copy__barcode=barcode, pickup_branch=branch, status=Status.READY)
        .select_related("bag", "patron")
        .first()
    )


@dataclass
class Match:
    """A patron found by name at the door, with what waits for them (and their children)."""

    patron: Patron
    count: int = 0
    labels: list[str] = field(default_factory=list)
    # The children whose documents these are, when the match is their guardian: the same
    # bag shows under the child and the parent, and says whose it is.
    for_children: list[str] = field(default_factory=list)
    # How many of them are the patron's own (when some are a child's).
    own: int = 0


def patrons_with_a_bag(q: str, *, branch: Branch) -> list[Match]:
    """Patrons named ``q`` (or with that phone number) who have something ready at
    ``branch``, for themselves or a child they are guardian of.

    Names are looked for among this hold shelf's patrons only: the phone desk's search
    stops at its first 20 patrons network-wide, and with a common name the one at the
    door could be the 21st. Phone numbers and cards match few patrons: its search as is."""
    ready = Request.objects.filter(pickup_branch=branch, status=Status.READY)
    # And those come after their bag expired, whose documents are still on the hold
    # shelf (expired_here: the door lends them all the same), found by name as by card.
    late = _expired_on_this_shelf(branch)
    with_guardian = Q(patron__guardian__isnull=False)
    patrons = Q(pk__in=ready.values("patron_id")) | Q(pk__in=late.values("patron_id"))
    guardians = Q(pk__in=ready.filter(with_guardian).values("patron__guardian_id")) | Q(
        pk__in=late.filter(with_guardian).values("patron__guardian_id")
    )
    here = Patron.objects.filter(patrons | guardians)
    if PHONE_LIKE.fullmatch(q.strip()):
        ids = [p.pk for p in find_patrons(q)]
        patrons = list(here.filter(pk__in=ids).order_by("last_name", "first_name", "pk"))
    elif name_too_short(q):
        return []
    else:
        patrons = list(patrons_named(q, here)[:MAX_MATCHES])
    matches = {p.pk: Match(patron=p) for p in patrons}
    rows = (
        ready.filter(Q(patron_id__in=matches) | Q(patron__guardian_id__in=matches))
        .values_list("patron_id", "patron__guardian_id", "bag__label", "patron__first_name")
        .order_by("bag__label", "pk")
    )
    for patron_id, guardian_id, label, first_name in rows:
        for match in (matches.get(patron_id), matches.get(guardian_id)):
            if match is not None:
                match.count += 1
                if label and label not in match.labels:
                    match.labels.append(label)
        if patron_id in matches:
            matches[patron_id].own += 1
        guardian = matches.get(guardian_id)
        if guardian is not None and first_name not in guardian.for_children:
            guardian.for_children.append(first_name)
    return list(matches.values())


@dataclass
class CardProblem:
    """A child's card the guardian collects for, blocked or expired: the hand-over lends
    to it, so the door says so, by name, and asks for the same override."""

    patron: Patron
    blocked_reason: str = ""
    expired_on: datetime.date | None = None


def card_problem(patron: Patron, today: datetime.date) -> CardProblem | None:
    """What ``holds.services.check_patron`` would refuse this card for, if anything."""
    expired = patron.card_expires if patron.card_expires and patron.card_expires < today else None
    if not patron.blocked_reason and not expired:
        return None
    return CardProblem(patron=patron, blocked_reason=patron.blocked_reason, expired_on=expired)


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
    # Their bag expired lately, but these documents are still on the hold shelf here:
    # they may be lent all the same (services.lend_expired); ``waited_for`` on those a
    # waiting request is to have instead.
    expired_here: list[Request] = field(default_factory=list)
    # The children whose documents are offered here (ready, or expired but still on the
    # hold shelf) with a blocked or expired card, by name: lent to their card, they need
    # the override as the scanned card does (services.check_borrowers).
    children_problems: list[CardProblem] = field(default_factory=list)
    # Documents still in the bags handed over whose request was cancelled (or expired)
    # since they were bagged: to take out before the bag leaves, or they go with it.
    take_out: list[Request] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.patron.blocked_reason)

    @property
    def needs_override(self) -> bool:
        return self.blocked or self.card_expired or bool(self.children_problems)

    @property
    def needs_attention(self) -> bool:
        return self.needs_override or bool(self.not_ready) or bool(self.take_out)


def door_view(*, patron: Patron, branch: Branch, today: datetime.date | None = None) -> DoorView:
    """Everything the door librarian needs after a scan, in four small queries (six when
    nothing is ready: then "already handed over today?" and "ready elsewhere?" are asked)."""
    today = today or timezone.localdate()
    ids = patron.household_ids()
    pending = (
        Request.objects.filter(
            patron_id__in=ids,
            pickup_branch=branch,
            status__in=[Status.READY, Status.PLACED, Status.WAITING],
        )
        .select_related("record", "copy__branch", "patron", "bag")
        .order_by("bag__label", "copy__call_number_key", "created_at", "pk")
    )
    view = DoorView(patron=patron, card_expired=bool(patron.card_expires and patron.card_expires < today))
    for request in pending:
        (view.ready if request.status == Status.READY else view.not_ready).append(request)
    view.bags = list({r.bag_id: r.bag for r in view.ready if r.bag_id}.values())
    if not view.ready:
        view.collected_today = loans_checked_out(patron_ids=ids, branch=branch, day=today)
        view.ready_elsewhere = ready_elsewhere(patron_ids=ids, branch=branch)
    view.expired_here = expired_here(patron_ids=ids, branch=branch)
    if view.bags:
        view.take_out = left_in_bags(view.bags, offered=view.expired_here)
    # Their patrons came with the requests (select_related): no query more.
    children = {r.patron_id: r.patron for r in [*view.ready, *view.expired_here] if r.patron_id != patron.pk}
    view.children_problems = [
        problem
        for child in sorted(children.values(), key=lambda p: (p.last_name, p.first_name, p.pk))
        if (problem := card_problem(child, today)) is not None
    ]
    return view


def ticked_not_lent(*, patron_ids: list[int], ticked: list[int], lent: set[int]) -> list[Request]:
    """Documents ticked at the door and not lent, still in their bag: their request was
    cancelled (or expired) between the page and the press. In the librarian's hand now,
    to be taken out, or they leave the building unlent."""
    left = Request.objects.filter(in_a_bag(), pk__in=ticked, patron_id__in=patron_ids).exclude(pk__in=lent)
    return list(left.select_related("record", "copy__branch", "bag").order_by("bag__label", "pk"))


def left_in_bags(bags: list[Bag], *, offered: list[Request]) -> list[Request]:
    """The closed requests of these open bags whose copy is still in the bag (cancelled
    after it was bagged, by the patron or staff), but for those ``offered`` (expired,
    and lent all the same if the door chooses)."""
    closed = Request.objects.filter(
        in_a_bag(), bag__in=bags, status__in=[Status.CANCELLED, Status.EXPIRED]
    ).exclude(pk__in=[r.pk for r in offered])
    return list(closed.select_related("record", "copy__branch", "bag").order_by("bag__label", "pk"))


# How long after its bag expired a document still on the hold shelf may be lent anyway.
LATE_DAYS = 7


def expired_here(*, patron_ids: list[int], branch: Branch) -> list[Request]:
    """Requests of these patrons whose bag here expired in the last LATE_DAYS, with their
    copy still on this library's hold shelf, held for no one (nobody has taken it out of
    the bag and scanned it at returns yet). Read through the requests' pickup index.
    ``waited_for``: someone else waits for the title (the patron's own request for it is
    filled by the loan: ``services.lend_expired``)."""
    held = Request.objects.filter(copy=OuterRef("copy_id"), status__in=HOLDING_COPY)
    # Taken by a request since, itself over (in that patron's bag now): not this bag's.
    later = Request.objects.filter(copy=OuterRef("copy_id"), placed_at__gt=OuterRef("closed_at"))
    # Those the copy could go to at returns (a blocked card, a closed pickup library wait
    # on: the patron here need not).
    waiting = (
        Request.objects.filter(record=OuterRef("record_id"), status=Status.WAITING)
        .filter(may_be_served_from(branch.pk))
        .exclude(patron=OuterRef("patron_id"))
    )
    at_home = Loan.objects.filter(
        patron=OuterRef("patron_id"), copy__record=OuterRef("record_id"), returned_at__isnull=True
    )
    return list(
        _expired_on_this_shelf(branch)
        .filter(patron_id__in=patron_ids)
        .exclude(Exists(held))
        .exclude(Exists(later))
        # A title the patron has at home (another copy, handed over meanwhile): one is enough.
        .exclude(Exists(at_home))
        .annotate(waited_for=Exists(waiting))
        .select_related("record", "copy", "patron")
        .order_by("copy__call_number_key", "pk")
    )


def _expired_on_this_shelf(branch: Branch):
    """Requests to be collected at ``branch`` whose bag expired in the last LATE_DAYS,
    their copy (this library's) still on its hold shelf, not lent since."""
    return Request.objects.filter(
        pickup_branch=branch,
        status=Status.EXPIRED,
        closed_at__gte=timezone.now() - datetime.timedelta(days=LATE_DAYS),
        copy__branch=branch,
        copy__status=CopyStatus.HOLD_SHELF,
        loan__isnull=True,
    )


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


# A receipt is of one hand-over: a household's bags at one library, a few dozen loans.
RECEIPT_MAX_LOANS = 100


def receipt_loans(*, loan_ids: list[int], branch: Branch) -> list[Loan]:
    """The loans of a receipt being shown again: those still out. A returned loan is
    reading history the patron keeps for their own account page, not the door's: a list
    of ids in the URL must not reopen it."""
    return list(
        Loan.objects.filter(pk__in=loan_ids[:RECEIPT_MAX_LOANS], branch=branch, returned_at__isnull=True)
        .select_related("copy__record", "patron")
        .order_by("patron__last_name", "patron__first_name", "due_date", "pk")
    )


def still_waiting(*, patron: Patron, branch: Branch) -> list[Request]:
    """What the patron (or their children) left in a bag here: a partial hand-over's
    receipt says where it waits and until when, so it is not forgotten."""
    return list(
        Request.objects.filter(
            patron_id__in=patron.household_ids(), pickup_branch=branch, status=Status.READY
        )
        .select_related("record", "bag", "patron")
        .order_by("bag__label", "hold_until", "pk")
    )


DEADLINE_FILTERS = ("today", "tomorrow", "overdue")


def hold_shelf(
    *, branch: Branch, due: str = "", by_time: bool = False, today: datetime.date | None = None
) -> list[Bag]:
    """Open bags sorted by label (where they stand), or by booked pickup time first
    (``by_time``: what to bring near the door next), each with ``ready_count`` and
    ``pickup_at``; ``due`` narrows by deadline."""
    today = today or timezone.localdate()
    booked = Appointment.objects.filter(bag=OuterRef("pk"), state=Appointment.State.BOOKED)
    order = [F("pickup_at").asc(nulls_last=True), "label"] if by_time else ["label"]
    bags = (
        Bag.objects.filter(branch=branch, state=Bag.State.OPEN)
        .select_related("patron")
        .annotate(
            ready_count=Count("requests", filter=Q(requests__status=Status.READY)),
            pickup_at=Subquery(booked.values("slot__starts_at")[:1]),
        )
        .order_by(*order)
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


# A request that ends with its copy held for nobody: the copy must be dealt with.
FREED = (Status.EXPIRED, Status.CANCELLED)


def coming_home(branch: Branch, limit: int = 500) -> list[Copy]:
    """This library's copies on their way back from another one (then
    ``services.receive_home``), in shelf order, each with ``coming_from``: where it was
    returned, or where it was not collected (or cancelled on its way there)."""
    returned = Loan.objects.filter(copy=OuterRef("pk"), returned_at__isnull=False).order_by("-returned_at")
    freed = (
        RequestEvent.objects.filter(copy=OuterRef("pk"), to_status__in=FREED)
        .exclude(branch_id=OuterRef("branch_id"))
        .order_by("-at", "-pk")
    )
    copies = list(
        Copy.objects.filter(branch=branch, status=CopyStatus.IN_TRANSIT)
        .exclude(requests__status__in=HOLDING_COPY)
        .select_related("record")
        .annotate(
            returned_at=Subquery(returned.values("returned_branch__name")[:1]),
            returned_on=Subquery(returned.values("returned_at")[:1]),
            freed_at=Subquery(freed.values("branch__name")[:1]),
            freed_on=Subquery(freed.values("at")[:1]),
        )
        .order_by("call_number_key", "pk")[:limit]
    )
    for copy in copies:
        # The later of the two is this journey; the other, an older one.
        last_freed = copy.freed_on and (not copy.returned_on or copy.freed_on > copy.returned_on)
        copy.coming_from = copy.freed_at if last_freed else copy.returned_at
    return copies


SHELF_EVENT = ("pk", "request_id", "copy_id", "from_status")


def _sent_here(cancelled_on_the_way: list[tuple]) -> set[int]:
    """Of these cancellations before the copy was ready, those whose copy was already in
    transit to the pickup library: it arrives there for no one. Looked up by request."""
    if not cancelled_on_the_way:
        return set()
    sent = set(
        RequestEvent.objects.filter(
            reason="in_transit", request_id__in={row[1] for row in cancelled_on_the_way}
        ).values_list("request_id", "copy_id")
    )
    return {pk for pk, request_id, copy_id, _ in cancelled_on_the_way if (request_id, copy_id) in sent}


def back_to_shelves(*, branch: Branch, days: int = BACK_TO_SHELVES_DAYS, now=None) -> list[RequestEvent]:
    """Documents that left this hold shelf without their patron: not collected in time,
    cancelled once ready or on their way here. Those of the last ``days`` days, and older
    ones still in a bag; in the order one walks the shelves, the latest event per copy.

    Each event's copy keeps its current status, which says what is left to do: on the
    hold shelf and held for no one → take it out of its bag (``request.bag``) and scan it
    at the returns desk; in transit to its own library → send it back; ``held`` (a
    request has it since: set aside → the pick trolley) or anything else → done."""
    now = now or timezone.now()
    left_the_shelf = (
        Q(to_status=Status.EXPIRED)
        | Q(to_status=Status.CANCELLED, from_status=Status.READY)
        | Q(to_status=Status.CANCELLED, from_status=Status.PLACED)  # kept if it was sent here
    )
    # Few, and found through the copies' (branch, status) index, not by reading every
    # event the branch ever had.
    still_in_a_bag = list(
        Copy.objects.filter(branch=branch, status=CopyStatus.HOLD_SHELF)
        .exclude(Exists(Request.objects.filter(copy=OuterRef("pk"), status__in=HOLDING_COPY)))
        .values_list("pk", flat=True)
    )
    # And other libraries' copies still in a closed bag here (travelling home on paper
    # from the bag's closing): listed until a scan at Returns takes them out, as the
    # managers' workload counts them (stats.selectors.workload).
    still_in_a_bag += Request.objects.filter(
        in_a_bag(), status__in=UNCOLLECTED, bag__branch=branch, copy__status=CopyStatus.IN_TRANSIT
    ).values_list("copy_id", flat=True)
    # Two bounded reads, each on its own index, rather than one whose OR would read the
    # network's whole history: the last days' events, and those of copies still in a bag.
    candidates = RequestEvent.objects.filter(left_the_shelf, branch=branch).exclude(copy=None)
    rows = {
        *candidates.filter(at__gte=now - datetime.timedelta(days=days)).values_list(*SHELF_EVENT),
        *candidates.filter(copy__in=still_in_a_bag).values_list(*SHELF_EVENT),
    }
    ids = {pk for pk, _, _, from_status in rows if from_status != Status.PLACED}
    ids |= _sent_here([row for row in rows if row[3] == Status.PLACED])
    held = Request.objects.filter(copy=OuterRef("copy"), status__in=HOLDING_COPY)
    events = list(
        RequestEvent.objects.filter(pk__in=ids)
        .annotate(held=Exists(held))
        .select_related("copy__record", "copy__branch", "copy__department", "copy__location", "request__bag")
        .order_by(*walking_keys("copy__"), "pk")
    )
    latest = {e.copy_id: e.pk for e in events}  # a copy's events come by pk: the last wins
    return [e for e in events if latest[e.copy_id] == e.pk]


def loans_of_each(patrons: list[Patron]) -> dict[int, list[Loan]]:
    """The current loans of each of ``patrons`` (a guardian and their children), soonest
    due first, in one query, by patron id (for the account page)."""
    found: dict[int, list[Loan]] = {p.pk: [] for p in patrons}
    by_pk = {p.pk: p for p in patrons}
    rows = Loan.objects.filter(patron__in=patrons, returned_at__isnull=True).select_related("copy__record")
    for loan in rows.order_by("due_date", "pk"):
        loan.patron = by_pk[loan.patron_id]
        found[loan.patron_id].append(loan)
    return found


def records_borrowed_by(patron: Patron, *, returned_too: bool) -> set[int]:
    """The records of a patron's loans out now and, ``returned_too``, of every returned
    loan still linked to them: all of them, where the account page shows the latest."""
    loans = Loan.objects.filter(patron=patron)
    if not returned_too:
        loans = loans.filter(returned_at__isnull=True)
    return set(loans.values_list("copy__record_id", flat=True).distinct())


def history_rules() -> tuple[int, list[tuple[str, int]]]:
    """How long the library's rules keep a returned loan's borrower: the default delay in
    days, and the document types whose rule says otherwise, (label, days), for the
    privacy notice and the account's choice to say it right."""
    rules = {row.doc_type: row.anonymise_after_days for row in LoanPolicy.objects.all()}
    default = rules.pop("", LoanPolicy().anonymise_after_days)
    labels = dict(DocType.choices)
    others = sorted((str(labels.get(t, t)), days) for t, days in rules.items() if days != default)
    return default, others


# The account page lists this many returned loans, the latest; it says how many more.
RETURNED_SHOWN = 200


def returned_loans_of(patron: Patron, *, limit: int = RETURNED_SHOWN) -> list[Loan]:
    """A patron's returned loans still linked to them (their history, as they chose to
    keep it, or until the library's rules forget it), the latest first."""
    return list(
        Loan.objects.filter(patron=patron, returned_at__isnull=False)
        .select_related("copy__record")
        .order_by("-returned_at", "-pk")[:limit]
    )


def returned_loans_count(patron: Patron) -> int:
    return Loan.objects.filter(patron=patron, returned_at__isnull=False).count()


def scanned_copy(barcode: str) -> Copy | None:
    """A copy scanned at Returns that is neither a return nor expected: what it is, for
    the screen to say what to do with it. A missing copy has ``missed_at`` (when a picker
    last did not find it, else when it last changed); one in a patron's bag has
    ``in_bag`` (its ready request)."""
    copy = Copy.objects.select_related("record", "branch").filter(barcode=barcode.strip()).first()
    if copy is None:
        return None
    copy.missed_at = copy.in_bag = None
    if copy.status == CopyStatus.MISSING:
        last_miss = (
            PickLine.objects.filter(copy=copy, status=LineStatus.NOT_FOUND)
            .order_by("-marked_at", "-pk")
            .values_list("marked_at", flat=True)
            .first()
        )
        copy.missed_at = last_miss or copy.updated_at
    elif copy.status == CopyStatus.HOLD_SHELF:
        copy.in_bag = (
            Request.objects.filter(copy=copy, status=Status.READY, bag__isnull=False)
            .select_related("bag", "patron", "pickup_branch")
            .first()
        )
    return copy
