"""Reading pickup times: the slots a bag may have, a patron's bags, the door's lists."""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from emporter.holds.models import Bag, Status
from emporter.network.calendar import closed_dates, closed_dates_of
from emporter.network.models import ServiceMode

from .models import LIVE, Appointment, PickupSettings, Slot


def slot_times(*, bag: Bag, settings: PickupSettings, now: datetime.datetime) -> list[datetime.datetime]:
    """Every slot start from now to the end of the bag's deadline, in the branch's
    opening hours on its open days: never in the past, never after the deadline. In UTC,
    each moment once: stepped in real time (``_open_spans``), so the Sundays the clocks
    change offer neither a time that does not exist nor one twice, and the repeated
    hour of October twice (both are open)."""
    if bag.hold_until is None:
        return []
    today = timezone.localdate(now)
    if bag.hold_until < today:
        return []
    branch = bag.branch
    closed = closed_dates(branch, today, bag.hold_until)
    hours = _hours_by_weekday(branch)
    step = datetime.timedelta(minutes=settings.slot_minutes)
    times = set()
    day = today
    while day <= bag.hold_until:
        if day not in closed:
            for opens, closes in hours.get(day.weekday(), []):
                for start, end in _open_spans(day, opens, closes):
                    while start + step <= end:
                        if start >= now:
                            times.add(start)
                        start += step
        day += datetime.timedelta(days=1)
    # Intervals that overlap (saved before the admin refused them) offer a time once.
    return sorted(times)


def _open_spans(
    day: datetime.date, opens: datetime.time, closes: datetime.time
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """The spans of real time (UTC) in which the library's clock reads ``day``, from
    ``opens`` to ``closes``: what ``opening`` counts as open. One span on most days; in
    spring the hour skipped is not in it; in autumn the repeated hour is in it twice, as
    two spans when the hours end or start inside it."""
    zone = timezone.get_current_timezone()
    pieces = []  # (first instant, end, UTC offset): the day cut where the offset changes
    first = _instant(datetime.datetime.combine(day, datetime.time.min), zone, earliest=True)
    last = _instant(datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min), zone)
    change = _offset_change(first, last, zone)
    for lo, hi in ((first, change), (change, last)) if change else ((first, last),):
        pieces.append((lo, hi, lo.astimezone(zone).utcoffset()))
    spans: list[tuple[datetime.datetime, datetime.datetime]] = []
    for lo, hi, offset in pieces:
        start = max(lo, (datetime.datetime.combine(day, opens) - offset).replace(tzinfo=datetime.UTC))
        end = min(hi, (datetime.datetime.combine(day, closes) - offset).replace(tzinfo=datetime.UTC))
        if start >= end:
            continue
        if spans and spans[-1][1] == start:  # open on both sides of the change: one span
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _instant(local: datetime.datetime, zone, *, earliest: bool = False) -> datetime.datetime:
    """The UTC instant of a wall-clock time: of its two readings in autumn's repeated
    hour, the earliest or the latest."""
    readings = [local.replace(tzinfo=zone, fold=fold).astimezone(datetime.UTC) for fold in (0, 1)]
    return min(readings) if earliest else max(readings)


def _offset_change(first: datetime.datetime, last: datetime.datetime, zone) -> datetime.datetime | None:
    """The instant the clocks change between ``first`` and ``last`` (one day: once at
    most), to the second; None on a day they do not."""
    before = first.astimezone(zone).utcoffset()
    if (last - datetime.timedelta(seconds=1)).astimezone(zone).utcoffset() == before:
        return None
    lo, hi = first, last - datetime.timedelta(seconds=1)  # offset(lo) == before != offset(hi)
    while hi - lo > datetime.timedelta(seconds=1):
        mid = lo + datetime.timedelta(seconds=(hi - lo).total_seconds() // 2)
        if mid.astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi


def _hours_by_weekday(branch) -> dict[int, list[tuple[datetime.time, datetime.time]]]:
    """The branch's opening intervals, (opens, closes) in order, by weekday."""
    hours: dict[int, list] = {}
    for h in sorted(branch.hours.all(), key=lambda h: h.opens):
        hours.setdefault(h.weekday, []).append((h.opens, h.closes))
    return hours


def open_now(branch, now: datetime.datetime) -> bool:
    """The branch is within its opening hours at ``now`` (and not on a closed date). A
    library whose hours are not entered yet (switched to click and collect first) is
    open on the days it works (``network.calendar.works_on``): someone is at the door."""
    day = timezone.localdate(now)
    return _open_now(_hours_by_weekday(branch), closed_dates(branch, day, day), now)


def _open_now(hours, closed: set[datetime.date], now: datetime.datetime) -> bool:
    """``open_now`` from the branch's hours (``_hours_by_weekday``) and its closed dates
    (those of today at least)."""
    if not hours:  # hours not entered: open on the days it works (``works_on``)
        return timezone.localdate(now) not in closed
    return _open_at(hours, closed, now)


def _open_at(hours, closed: set[datetime.date], moment: datetime.datetime) -> bool:
    local = timezone.localtime(moment)
    if local.date() in closed:
        return False
    return any(opens <= local.time() < closes for opens, closes in hours.get(local.weekday(), []))


def opening(branch, first: datetime.date, last: datetime.date):
    """A test of moments from ``first`` to ``last``: is the branch open then (within its
    opening hours, not on a closed date)? Two queries, however many moments are tested."""
    closed = closed_dates(branch, first, last)
    hours = _hours_by_weekday(branch)

    def is_open(moment: datetime.datetime) -> bool:
        return _open_at(hours, closed, moment)

    return is_open


def next_opening(branch, now: datetime.datetime, last: datetime.date) -> datetime.datetime | None:
    """When the branch next opens after ``now``, up to ``last`` (None if not by then)."""
    first = timezone.localdate(now)
    if last < first:
        return None
    return _next_opening(_hours_by_weekday(branch), closed_dates(branch, first, last), now, last)


def _next_opening(hours, closed: set[datetime.date], now: datetime.datetime, last: datetime.date):
    """``next_opening`` from the branch's hours and its closed dates (from today to
    ``last`` at least)."""
    day = timezone.localdate(now)
    while day <= last:
        if day not in closed:
            for opens, closes in hours.get(day.weekday(), []):
                for start, _end in _open_spans(day, opens, closes):
                    if start > now:
                        return timezone.localtime(start)
        day += datetime.timedelta(days=1)
    return None


@dataclass
class Choice:
    starts_at: datetime.datetime
    left: int


@dataclass
class Day:
    day: datetime.date
    choices: list[Choice] = field(default_factory=list)


def available(*, bag: Bag, now=None) -> list[Day]:
    """The slots the bag may still have, by day, with the places left in each."""
    now = now or timezone.now()
    settings = PickupSettings.objects.filter(branch_id=bag.branch_id).first()
    if settings is None or bag.state != Bag.State.OPEN or bag.branch.service_mode == ServiceMode.CLOSED:
        return []
    times = slot_times(bag=bag, settings=settings, now=now)
    if not times:
        return []
    # Keyed by the UTC instant, as slot_times gives them: a local datetime in autumn's
    # repeated hour never equals another zone's (PEP 495). The places left are counted
    # under the current "patrons per slot", as services.book counts them (none when it
    # was lowered below what is booked), not the capacity given at the last booking.
    taken = {
        s.starts_at.astimezone(datetime.UTC): max(0, settings.per_slot - s.booked)
        for s in Slot.objects.filter(
            branch_id=bag.branch_id, starts_at__gte=times[0], starts_at__lte=times[-1]
        )
    }
    days: dict[datetime.date, Day] = {}
    for starts_at in times:
        left = taken.get(starts_at, settings.per_slot)
        if left > 0:
            local = _local(starts_at)
            days.setdefault(local.date(), Day(local.date())).choices.append(Choice(local, left))
    return list(days.values())


def _local(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` at the library's clock, with a fixed offset (+02:00 or +01:00 in
    autumn's repeated hour): shown and sent back as such, and equal to the same
    moment in any zone."""
    local = timezone.localtime(moment)
    return local.replace(tzinfo=datetime.timezone(local.utcoffset()))


def live_appointments():
    return Appointment.objects.filter(state__in=LIVE).select_related("slot")


def bags_of(patron_ids: list[int]):
    """Open bags of these patrons (a patron and the children in their care), with what is
    ready in them, their live appointment (``appointment``) and whether their branch
    offers pickup times (``has_times``). Each library's calendar is read once, however
    many bags wait there: five queries in all."""
    bags = list(
        Bag.objects.filter(patron_id__in=patron_ids, state=Bag.State.OPEN)
        .select_related("branch", "patron")
        .annotate(ready=Count("requests", filter=Q(requests__status=Status.READY)))
        .filter(ready__gt=0)
        .prefetch_related(
            "branch__hours", Prefetch("appointments", queryset=live_appointments(), to_attr="live")
        )
        .order_by("hold_until", "pk")
    )
    with_times = set(
        PickupSettings.objects.filter(branch_id__in={b.branch_id for b in bags}).values_list(
            "branch_id", flat=True
        )
    )
    now = timezone.now()
    today = timezone.localdate(now)
    lending = [b for b in bags if b.branch.service_mode != ServiceMode.CLOSED]
    # The closed dates of every library with a bag, from today to the last bag's deadline.
    last = max([today, *(b.hold_until for b in lending if b.hold_until)])
    closed = closed_dates_of({b.branch_id for b in lending}, today, last) if lending else {}
    hours: dict[int, dict] = {}
    answers: dict[tuple, tuple[bool, datetime.datetime | None]] = {}  # by (branch, deadline)
    for bag in bags:
        bag.appointment = bag.live[0] if bag.live else None
        bag.has_times = bag.branch_id in with_times
        bag.library_closed = bag.branch.service_mode == ServiceMode.CLOSED
        # "I'm here" only while someone is at the door; otherwise, when it opens.
        bag.open_now, bag.opens_next = False, None
        if not bag.library_closed:
            key = (bag.branch_id, bag.hold_until)
            if key not in answers:
                if bag.branch_id not in hours:
                    hours[bag.branch_id] = _hours_by_weekday(bag.branch)
                its_hours, its_closed = hours[bag.branch_id], closed[bag.branch_id]
                is_open = _open_now(its_hours, its_closed, now)
                opens_next = None
                if not is_open and bag.hold_until:
                    opens_next = _next_opening(its_hours, its_closed, now, bag.hold_until)
                answers[key] = (is_open, opens_next)
            bag.open_now, bag.opens_next = answers[key]
        bag.time_missed = bool(
            bag.appointment and bag.appointment.slot and bag.appointment.slot.starts_at < now
        )
    return bags


def arrivals(branch) -> list[Appointment]:
    """Patrons at the door now ("I'm here"), first come first: their bag to fetch."""
    return list(
        Appointment.objects.filter(
            state=Appointment.State.ARRIVED, bag__branch=branch, bag__state=Bag.State.OPEN
        )
        .select_related("bag__patron", "slot")
        .annotate(ready=Count("bag__requests", filter=Q(bag__requests__status=Status.READY)))
        .order_by("arrived_at", "pk")
    )


# A patron this late is still expected: their booking stays on the door's list.
STILL_EXPECTED = datetime.timedelta(minutes=30)


def booked_today(branch, now: datetime.datetime | None = None) -> list[Appointment]:
    """Today's booked times still to come (or just gone: people are late), by time then
    bag label: the bags to have near the door before their patrons arrive."""
    now = now or timezone.now()
    start = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), datetime.time.min))
    return list(
        Appointment.objects.filter(
            state=Appointment.State.BOOKED,
            bag__branch=branch,
            bag__state=Bag.State.OPEN,
            slot__starts_at__gte=max(start, now - STILL_EXPECTED),
            slot__starts_at__lt=start + datetime.timedelta(days=1),
        )
        .select_related("bag__patron", "slot")
        .annotate(ready=Count("bag__requests", filter=Q(bag__requests__status=Status.READY)))
        .order_by("slot__starts_at", "bag__label")
    )
