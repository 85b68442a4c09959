"""Reading pickup times: the slots a bag may have, a patron's bags, the door's lists."""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from emporter.holds.models import Bag, Status
from emporter.network.calendar import closed_dates
from emporter.network.models import ServiceMode

from .models import LIVE, Appointment, PickupSettings, Slot


def slot_times(*, bag: Bag, settings: PickupSettings, now: datetime.datetime) -> list[datetime.datetime]:
    """Every slot start from now to the end of the bag's deadline, in the branch's
    opening hours on its open days: never in the past, never after the deadline."""
    if bag.hold_until is None:
        return []
    today = timezone.localdate(now)
    if bag.hold_until < today:
        return []
    branch = bag.branch
    closed = closed_dates(branch, today, bag.hold_until)
    hours = _hours_by_weekday(branch)
    step = datetime.timedelta(minutes=settings.slot_minutes)
    times = []
    day = today
    while day <= bag.hold_until:
        if day not in closed:
            for opens, closes in hours.get(day.weekday(), []):
                start = timezone.make_aware(datetime.datetime.combine(day, opens))
                end = timezone.make_aware(datetime.datetime.combine(day, closes))
                while start + step <= end:
                    if start >= now:
                        times.append(start)
                    start += step
        day += datetime.timedelta(days=1)
    # Intervals that overlap (saved before the admin refused them) offer a time once.
    return sorted(set(times))


def _hours_by_weekday(branch) -> dict[int, list[tuple[datetime.time, datetime.time]]]:
    """The branch's opening intervals, (opens, closes) in order, by weekday."""
    hours: dict[int, list] = {}
    for h in sorted(branch.hours.all(), key=lambda h: h.opens):
        hours.setdefault(h.weekday, []).append((h.opens, h.closes))
    return hours


def open_now(branch, now: datetime.datetime) -> bool:
    """The branch is within its opening hours at ``now`` (and not on a closed date)."""
    day = timezone.localdate(now)
    return opening(branch, day, day)(now)


def opening(branch, first: datetime.date, last: datetime.date):
    """A test of moments from ``first`` to ``last``: is the branch open then (within its
    opening hours, not on a closed date)? Two queries, however many moments are tested."""
    closed = closed_dates(branch, first, last)
    hours = _hours_by_weekday(branch)

    def is_open(moment: datetime.datetime) -> bool:
        local = timezone.localtime(moment)
        if local.date() in closed:
            return False
        return any(opens <= local.time() < closes for opens, closes in hours.get(local.weekday(), []))

    return is_open


def next_opening(branch, now: datetime.datetime, last: datetime.date) -> datetime.datetime | None:
    """When the branch next opens after ``now``, up to ``last`` (None if not by then)."""
    first = timezone.localdate(now)
    if last < first:
        return None
    closed = closed_dates(branch, first, last)
    hours = _hours_by_weekday(branch)
    day = first
    while day <= last:
        if day not in closed:
            for opens, _closes in hours.get(day.weekday(), []):
                moment = timezone.make_aware(datetime.datetime.combine(day, opens))
                if moment > now:
                    return moment
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
    taken = {
        s.starts_at: s.capacity - s.booked
        for s in Slot.objects.filter(
            branch_id=bag.branch_id, starts_at__gte=times[0], starts_at__lte=times[-1]
        )
    }
    days: dict[datetime.date, Day] = {}
    for starts_at in times:
        left = taken.get(starts_at, settings.per_slot)
        if left > 0:
            day = timezone.localdate(starts_at)
            days.setdefault(day, Day(day)).choices.append(Choice(starts_at, left))
    return list(days.values())


def live_appointments():
    return Appointment.objects.filter(state__in=LIVE).select_related("slot")


def bags_of(patron_ids: list[int]):
    """Open bags of these patrons (a patron and the children in their care), with what is
    ready in them, their live appointment (``appointment``) and whether their branch
    offers pickup times (``has_times``)."""
    bags = list(
        Bag.objects.filter(patron_id__in=patron_ids, state=Bag.State.OPEN)
        .select_related("branch", "patron")
        .annotate(ready=Count("requests", filter=Q(requests__status=Status.READY)))
        .filter(ready__gt=0)
        .prefetch_related(Prefetch("appointments", queryset=live_appointments(), to_attr="live"))
        .order_by("hold_until", "pk")
    )
    with_times = set(
        PickupSettings.objects.filter(branch_id__in={b.branch_id for b in bags}).values_list(
            "branch_id", flat=True
        )
    )
    now = timezone.now()
    for bag in bags:
        bag.appointment = bag.live[0] if bag.live else None
        bag.has_times = bag.branch_id in with_times
        bag.library_closed = bag.branch.service_mode == ServiceMode.CLOSED
        # "I'm here" only while someone is at the door; otherwise, when it opens.
        bag.open_now = not bag.library_closed and open_now(bag.branch, now)
        bag.opens_next = None
        if not bag.open_now and not bag.library_closed and bag.hold_until:
            bag.opens_next = next_opening(bag.branch, now, bag.hold_until)
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
