"""Turning request events into notices, grouped per patron (and per pickup branch).

Runs on a schedule and is idempotent: an event is linked to at most one notice (a
unique constraint), so two composers racing cannot tell a patron twice.

- confirmation: the new requests of a patron for one pickup library, once they have
  stopped placing them for GROUP_DELAY (a basket confirmed in one go gives one email);
- ready / not found: one email per patron and pickup branch (so per bag: one label,
  one deadline, one address), with everything now waiting there and what could not be
  found for it (the seed's email) — sent once this morning's lists have none of the
  patron's documents for that branch left to pull and none is arriving by van, or
  PULL_WAIT after the first was found;
  (a "not found" for want of any copy, from the sweep that runs all night: from DAYTIME on);
- cancelled by the library: as it happens; expired bags (at midnight): from DAYTIME on;
  both per patron and pickup branch;
- pickup library closed: per patron and closed library, once per closing
  (holds.services.tell_closed_pickups marks the requests); and reopened, to those
  the closing was told (``reopening.tell_reopenings``, from the switch's history);
- back on the waiting list: the only copies are at a library that has closed
  (picking.services.withdraw_closed_branches), per patron and pickup branch;
- pickup time cancelled, the library no longer opening then: per appointment, from
  the mark the curbside sweep leaves (``compose_time_cancelled``);
- reminder: the day before a bag's deadline (on the day itself when that was missed, or
  when the "ready" email went that morning).
"""

import datetime
import operator
from collections import defaultdict
from functools import reduce

from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, F, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from emporter.catalogue.models import CopyStatus
from emporter.curbside.models import Appointment
from emporter.holds.models import ACTIVE, Bag, Request, RequestEvent, Status
from emporter.network.models import ServiceMode

from .models import Kind, Notice, NoticeEvent, State
from .reopening import knows_closed, tell_reopenings

GROUP_DELAY = datetime.timedelta(seconds=30)
# Emails that can wait are not written in the night (reminders, expired bags, a waiting
# request closed for want of copies).
DAYTIME = datetime.time(9, 0)
# The reason holds.services.close_waiting_without_copies gives: every copy gone for a day.
NO_COPY_LEFT = "no_copy_left"


def _unclaimed():
    """Events no notice has told yet, for requests whose patron is still known: once the
    loan is anonymised there is no one left to tell. Read through the partial index on
    ``to_tell``: the few events of the last minutes or hours, not the history (at 60,000
    loans a day, millions of rows). However old, an event still to tell is told: a
    scheduler stopped for a fortnight delays notices, it does not drop them (the outbox
    skips a "ready" email whose documents are no longer waiting). An event told meanwhile
    by another composer is refused by its unique link (``_create``)."""
    # With the guardian: the channel a child's notice goes by may be theirs (telling_channel).
    return RequestEvent.objects.filter(to_tell=True, request__patron__isnull=False).select_related(
        "request__patron__guardian"
    )


# The events each step below tells (one place: a step added here is told, not set aside).
PLACEMENTS = Q(from_status="", to_status__in=[Status.PLACED, Status.WAITING])
# A ready bag's library closing (ready -> ready) is told apart, by the closures.
OUTCOMES = Q(to_status__in=[Status.READY, Status.NOT_FOUND]) & ~Q(from_status=F("to_status"))
CLOSURES = (
    (Kind.CANCELLED, Q(to_status=Status.CANCELLED, reason="staff")),
    (Kind.EXPIRED, Q(to_status=Status.EXPIRED)),
    (Kind.PICKUP_CLOSED, Q(reason="pickup_closed")),
    (Kind.WAITING_AGAIN, Q(reason="copy_library_closed")),
    (Kind.PICKUP_REOPENED, Q(reason="pickup_reopened")),
)
# Every other event is set aside as soon as it is written.
TOLD = reduce(operator.or_, [PLACEMENTS, OUTCOMES, *(condition for _kind, condition in CLOSURES)])


def set_aside() -> int:
    """Clear ``to_tell`` where no notice will ever come: events no step tells, requests
    whose borrower is forgotten, and events already told (by a composer of the previous
    version, during a deploy: left in a group, their unique link would make every notice
    of that group fail). Returns how many."""
    pending = RequestEvent.objects.filter(to_tell=True)
    # EXISTS, not the joins Django writes for request__patron and notice_link: ORed with
    # TOLD across joined tables, PostgreSQL took 12-38 ms to plan this on every pass
    # (0.3 ms so), for a statement that finds nothing most of the time.
    forgotten = Exists(Request.objects.filter(pk=OuterRef("request_id"), patron__isnull=True))
    linked = Exists(NoticeEvent.objects.filter(event_id=OuterRef("pk")))
    return pending.filter(~TOLD | forgotten | linked).update(to_tell=False)


def _told(events) -> None:
    RequestEvent.objects.filter(pk__in=[e.pk for e in events]).update(to_tell=False)


def _create(*, patron, kind: str, events: list[RequestEvent], key: str, bag_id=None) -> Notice | None:
    """The notice for ``events`` (``patron`` loaded with them: ``_unclaimed``), or None
    when another composer made it first."""
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                patron=patron, kind=kind, channel=patron.telling_channel, dedupe_key=key, bag_id=bag_id
            )
            NoticeEvent.objects.bulk_create(NoticeEvent(notice=notice, event=e) for e in events)
            _told(events)
    except IntegrityError:
        return None  # another composer got there first
    return notice


def _by_patron_and_branch(events) -> dict[tuple[int, int], list[RequestEvent]]:
    groups = defaultdict(list)
    for event in events:
        groups[event.request.patron_id, event.request.pickup_branch_id].append(event)
    return groups


def compose_confirmations(now: datetime.datetime) -> int:
    placed = _unclaimed().filter(PLACEMENTS)
    ready_told = set(
        RequestEvent.objects.filter(
            request__in=placed.values("request_id"), to_status=Status.READY, notice_link__isnull=False
        ).values_list("request_id", flat=True)
    )
    created = 0
    # Per pickup library, as the "ready" emails: one email names one library's address
    # and hours (two baskets for two libraries within a minute gave one email, under
    # the first library's name alone).
    for events in _by_patron_and_branch(placed).values():
        if max(e.at for e in events) > now - GROUP_DELAY:
            continue  # still filling the basket
        # A request cancelled before the email went is not confirmed (its event is set
        # aside: a cancelled request never becomes active again, nothing more is sent),
        # nor one whose "ready" email is already written: "we will write when it is
        # ready" would follow it (a document trapped at returns a minute after).
        done = [e for e in events if e.request.status not in ACTIVE or e.request_id in ready_told]
        _told(done)
        events = [e for e in events if e not in done]
        if not events:
            continue
        key = f"confirmation:{min(e.pk for e in events)}"
        patron = events[0].request.patron
        created += bool(_create(patron=patron, kind=Kind.CONFIRMATION, events=events, key=key))
    return created


# How long a "ready" email waits for the rest of the patron's documents on the same
# morning's list. The point is one email per bag on the morning of the pull; a line
# the picker leaves unmarked must not hold the others back, and this is well under
# the shortest hold (one open day), so the patron always hears before the deadline.
PULL_WAIT = datetime.timedelta(hours=3)


# How long a "ready" email waits after the patron's last document arrived while another
# is still in the van to this library: the crate is scanned a document at a time, and
# one email per bag is the point (three receipts used to send three emails).
ARRIVAL_WAIT = datetime.timedelta(minutes=10)


def _still_being_pulled(groups: dict[tuple[int, int], list[RequestEvent]], now) -> set[tuple[int, int]]:
    """The (patron, pickup branch) groups to wait for, PULL_WAIT at most after the
    group's first outcome: while the list of that day, at any library, still has one of
    the patron's documents to be collected here (so that what could not be found is in
    the same email: the seed's promise), or for ARRIVAL_WAIT after the last outcome while
    another of those documents is in transit here. Two queries however many groups: a busy
    morning has thousands of patrons half pulled."""
    first = {key: _first_outcome(events) for key, events in groups.items()}
    young = [key for key in groups if now - first[key] < PULL_WAIT]
    if not young:
        return set()
    # The list of the day the first document was found (not of "now": a pass just after
    # midnight must still wait for that morning's list, for PULL_WAIT at most).
    day = {key: timezone.localdate(first[key]) for key in young}
    patrons = {patron for patron, _ in young}
    placed = Request.objects.filter(patron_id__in=patrons, status=Status.PLACED)
    pending = placed.filter(
        pick_lines__status="pending", pick_lines__run__run_date__in=set(day.values())
    ).values_list("patron_id", "pickup_branch_id", "pick_lines__run__run_date")
    on_a_list = {((patron, branch), run_date) for patron, branch, run_date in pending}
    travelling = set(
        placed.filter(copy__status=CopyStatus.IN_TRANSIT).values_list("patron_id", "pickup_branch_id")
    )
    arriving = {
        key for key in young if key in travelling and now - max(e.at for e in groups[key]) < ARRIVAL_WAIT
    }
    return {key for key in young if (key, day[key]) in on_a_list} | arriving


def _first_outcome(events: list[RequestEvent]) -> datetime.datetime:
    """When the group's news began: its first outcome of a pull. The waiting list's
    "no copy left", held through the night (``compose_outcomes``), is older than the
    morning's list: counted, the group looked done waiting at the first document found,
    and the next one found had an email of its own. Alone, it begins when it may be
    told: at DAYTIME when it came in the night, so the morning's documents still on the
    list are waited for, and the news goes in their email."""
    pulled = [e.at for e in events if e.reason != NO_COPY_LEFT]
    return min(pulled or [_daytime_from(e.at) for e in events])


def _daytime_from(moment: datetime.datetime) -> datetime.datetime:
    """``moment``, or DAYTIME of its day if it came in the night."""
    local = timezone.localtime(moment)
    if local.time() >= DAYTIME:
        return moment
    return datetime.datetime.combine(local.date(), DAYTIME, tzinfo=local.tzinfo)


def compose_outcomes(now: datetime.datetime) -> int:
    groups = _by_patron_and_branch(_unclaimed().filter(OUTCOMES))
    wait = _still_being_pulled(groups, now)
    night = timezone.localtime(now).time() < DAYTIME
    created = 0
    for (patron_id, branch_id), events in groups.items():
        if (patron_id, branch_id) in wait:
            continue
        if night and all(e.reason == NO_COPY_LEFT for e in events):
            continue  # the waiting list's sweep runs all night: its news waits for the day
        ready = [e for e in events if e.to_status == Status.READY]
        kind = Kind.READY if ready else Kind.NOT_FOUND
        # The patron's bag at this branch: the latest, should one have been handed over
        # and another opened since the composer last ran.
        bag_id = max(ready, key=lambda e: e.pk).request.bag_id if ready else None
        key = f"{kind}:{patron_id}:{branch_id}:{min(e.pk for e in events)}"
        patron = events[0].request.patron
        created += bool(_create(patron=patron, kind=kind, events=events, key=key, bag_id=bag_id))
    return created


def _not_known_closed(events):
    """Closing events, less those whose patron already knows their library is closed: a
    "closed" email left for it, and no "reopened" one since (closed, reopened and closed
    again before the "reopened" email could go, that one is skipped as outdated). They
    are set aside untold: the patron would read "closed" twice with nothing between."""
    knows = knows_closed(events, request=OuterRef("request"), branch=OuterRef("branch"))
    known = list(knows.values_list("pk", flat=True))
    if known:
        RequestEvent.objects.filter(pk__in=known).update(to_tell=False)
    return events.exclude(pk__in=known)


def compose_closures(now: datetime.datetime) -> int:
    """Cancelled by the library (not by the patron, who knows), expired bags, libraries
    closed where the patron was to collect, and requests back on the waiting list."""
    created = 0
    for kind, condition in CLOSURES:
        # Bags expire just after midnight: nobody wants that email in the night.
        if kind == Kind.EXPIRED and timezone.localtime(now).time() < DAYTIME:
            continue
        closed = _unclaimed().filter(condition)
        if kind == Kind.PICKUP_CLOSED:
            closed = _not_known_closed(closed)
        for (patron_id, branch_id), events in _by_patron_and_branch(closed).items():
            key = f"{kind}:{patron_id}:{branch_id}:{min(e.pk for e in events)}"
            created += bool(_create(patron=events[0].request.patron, kind=kind, events=events, key=key))
    return created


def compose_reminders(now: datetime.datetime) -> int:
    """The day before a bag's deadline, or on the day itself when that pass was missed
    (the scheduler down all day) or came too soon: nothing is said the day the "ready"
    email went (a one-day hold would give two emails in one morning), so such a bag is
    reminded on its last day."""
    if timezone.localtime(now).time() < DAYTIME:
        return 0
    today = timezone.localdate(now)
    # Every pass from 9:00 looks again: only the bags not reminded yet for their
    # deadline, so that a pass costs what is new, not every bag due in the network.
    reminded = Notice.objects.filter(
        kind=Kind.REMINDER,
        dedupe_key=Concat(
            Value("reminder:"),
            Cast(OuterRef("pk"), CharField()),
            Value(":"),
            Cast(OuterRef("hold_until"), CharField()),
        ),
    )
    # Nor while the "ready" email is held by mail trouble (tried, not gone), or once it
    # went today: after an outage the reminder would arrive in the same minute.
    told_today = Notice.objects.filter(
        Q(created_at__gte=_start_of(today))
        | Q(state__in=[State.PENDING, State.SENDING], attempts__gt=0)
        | Q(sent_at__gte=_start_of(today)),
        kind=Kind.READY,
        bag=OuterRef("pk"),
    )
    # Nor before the "ready" email itself, still waiting for the rest of the pull.
    to_tell = RequestEvent.objects.filter(OUTCOMES, to_tell=True, request__bag=OuterRef("pk"))
    ready = Request.objects.filter(bag=OuterRef("pk"), status=Status.READY)
    bags = (
        Bag.objects.filter(
            Exists(ready), state=Bag.State.OPEN, hold_until__in=[today, today + datetime.timedelta(days=1)]
        )
        # A closed library's bags do not expire (holds.services.expire_overdue): no reminder.
        .exclude(branch__service_mode=ServiceMode.CLOSED)
        .exclude(Exists(reminded))
        .exclude(Exists(told_today))
        .exclude(Exists(to_tell))
        .select_related("patron")
    )
    created = 0
    for bag in bags:
        key = f"reminder:{bag.pk}:{bag.hold_until}"
        created += bool(_create(patron=bag.patron, kind=Kind.REMINDER, events=[], key=key, bag_id=bag.pk))
    return created


def compose_time_cancelled(now: datetime.datetime) -> int:
    """Pickup times cancelled because the library will not be open then
    (``curbside.services.close_finished`` marks them ``to_tell``): each patron is told,
    once per appointment, with another time to choose. The mark is taken off in the
    notice's transaction, and the notice's key refuses a second one."""
    composed = 0
    marked = Appointment.objects.filter(to_tell=True).select_related("bag__patron").order_by("pk")
    for appointment in marked:
        with transaction.atomic():
            if not Appointment.objects.filter(pk=appointment.pk, to_tell=True).update(to_tell=False):
                continue  # another composer took it
            patron = appointment.bag.patron
            key = f"{Kind.TIME_CANCELLED}:{appointment.pk}"
            composed += (
                _create(
                    patron=patron, kind=Kind.TIME_CANCELLED, events=[], key=key, bag_id=appointment.bag_id
                )
                is not None
            )
    return composed


def compose_surprise_cancelled(now: datetime.datetime) -> int:
    """Surprise bags the library cancelled (``discovery.services.cancel_stranded`` marks
    them ``to_tell``): their patron is told, once, and may ask again elsewhere."""
    from emporter.discovery.models import SurpriseRequest

    composed = 0
    for surprise in SurpriseRequest.objects.filter(to_tell=True).select_related("patron").order_by("pk"):
        with transaction.atomic():
            if not SurpriseRequest.objects.filter(pk=surprise.pk, to_tell=True).update(to_tell=False):
                continue  # another composer took it
            if surprise.patron is None:  # forgotten meanwhile: nobody to tell
                continue
            key = f"{Kind.SURPRISE_CANCELLED}:{surprise.pk}"
            notice = _create(patron=surprise.patron, kind=Kind.SURPRISE_CANCELLED, events=[], key=key)
            if notice is not None:
                Notice.objects.filter(pk=notice.pk).update(surprise=surprise)
                composed += 1
    return composed


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def compose_all(now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    set_aside()
    tell_reopenings()  # events, which compose_closures tells in this same pass
    return sum(
        step(now)
        for step in (
            compose_confirmations,
            compose_outcomes,
            compose_closures,
            compose_time_cancelled,
            compose_surprise_cancelled,
            compose_reminders,
        )
    )
