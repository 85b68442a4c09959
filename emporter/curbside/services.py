"""Writes about pickup appointments: booking a time, cancelling it, "I'm here", and
closing them once the bag is handed over or closes otherwise.

A slot's places are taken with a guarded UPDATE (``booked < capacity`` in the WHERE
clause, and a check constraint behind it; the capacity brought to the current settings
first), and each bag's booking runs under the bag's row lock, so two patrons cannot take
the last place and one patron cannot hold two.
"""

import datetime

from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from emporter.errors import ServiceError
from emporter.holds.models import Bag, Request, Status
from emporter.network.models import LENDING_MODES

from .models import LIVE, Appointment, PickupSettings, Slot
from .selectors import open_now, opening, slot_times


def _ready_bag(bag_id: int) -> Bag:
    """The bag, locked, if its documents can be collected (open, something ready in it);
    else ``bag_not_ready``; ``pickup_library_closed`` while its library is closed."""
    bag = Bag.objects.select_for_update(of=("self",)).select_related("branch").filter(pk=bag_id).first()
    if (
        bag is None
        or bag.state != Bag.State.OPEN
        or not Request.objects.filter(bag=bag, status=Status.READY).exists()
    ):
        raise ServiceError("bag_not_ready")
    if bag.branch.service_mode not in LENDING_MODES:
        raise ServiceError("pickup_library_closed", branch=bag.branch.name)
    return bag


def book(*, bag: Bag, starts_at: datetime.datetime, now=None) -> Appointment:
    """Book ``starts_at`` to collect ``bag``; a booking the bag already had is given up
    (its place freed) once the new one is sure. ``slot_unavailable`` when that time is not
    one the bag may have (past, after its deadline, closed, not a slot start);
    ``slot_full`` when its places are taken."""
    now = now or timezone.now()
    settings = PickupSettings.objects.filter(branch_id=bag.branch_id).first()
    if settings is None:
        raise ServiceError("no_pickup_times")
    # Compared and stored as the UTC instant (slot_times gives them so): a local time in
    # autumn's repeated hour never equals one of another zone (PEP 495).
    starts_at = starts_at.astimezone(datetime.UTC)
    with transaction.atomic():
        bag = _ready_bag(bag.pk)
        if starts_at not in slot_times(bag=bag, settings=settings, now=now):
            raise ServiceError("slot_unavailable")
        # The bag, then its appointment, then slots: the order cancel and the sweep that
        # ends missed times (close_finished) take them in, or a patron re-booking while
        # the sweep ends their old time would deadlock with it.
        live = (
            Appointment.objects.select_for_update(of=("self",))
            .filter(bag=bag, state__in=LIVE)
            .select_related("slot")
            .first()
        )
        if live is not None and live.slot is not None and live.slot.starts_at == starts_at:
            return live
        slot, _ = Slot.objects.get_or_create(
            branch_id=bag.branch_id, starts_at=starts_at, defaults={"capacity": settings.per_slot}
        )
        # Both slots locked in id order before either changes: two patrons swapping
        # their times would otherwise each hold one and wait for the other.
        mine = {slot.pk, live.slot_id} if live is not None and live.slot_id else {slot.pk}
        list(Slot.objects.select_for_update().filter(pk__in=mine).order_by("pk").values_list("pk", flat=True))
        if not _take_place(slot, settings.per_slot):
            raise ServiceError("slot_full")
        if live is not None:
            _close(live, Appointment.State.CANCELLED, now=now)
        return Appointment.objects.create(bag=bag, slot=slot)


def _take_place(slot: Slot, per_slot: int) -> bool:
    """One place in ``slot`` (locked), if it has one under the branch's current "patrons
    per slot": a door short-staffed since the slot's first booking takes fewer, and more
    once staffed again. Never below what is booked already (the check constraint); those
    patrons keep their time."""
    Slot.objects.filter(pk=slot.pk).update(capacity=Greatest(F("booked"), per_slot))
    return bool(Slot.objects.filter(pk=slot.pk, booked__lt=F("capacity")).update(booked=F("booked") + 1))


def cancel(*, appointment: Appointment, now=None) -> bool:
    """The patron gives their time up; its place is free for someone else."""
    with transaction.atomic():
        live = Appointment.objects.select_for_update().filter(pk=appointment.pk, state__in=LIVE).first()
        if live is None:
            return False
        _close(live, Appointment.State.CANCELLED, now=now or timezone.now())
        return True


def i_am_here(*, bag: Bag, now=None) -> Appointment:
    """The patron is at the door: the door's screen shows them at once, with their bag.
    Only once the bag is ready (nothing to fetch otherwise); with or without a booking.
    Saying it twice changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        bag = _ready_bag(bag.pk)
        if not open_now(bag.branch, now):
            # Nobody at the door to fetch it: the door's list would show a patron who
            # left hours ago.
            raise ServiceError("library_not_open_now", branch=bag.branch.name)
        live = Appointment.objects.filter(bag=bag, state__in=LIVE).first()
        if live is None:
            return Appointment.objects.create(bag=bag, state=Appointment.State.ARRIVED, arrived_at=now)
        if live.state != Appointment.State.ARRIVED:
            Appointment.objects.filter(pk=live.pk, state=Appointment.State.BOOKED).update(
                state=Appointment.State.ARRIVED, arrived_at=now
            )
            live.refresh_from_db()
        return live


def not_here(*, bag: Bag) -> bool:
    """Said "I'm here" by mistake, or had to leave: off the door's list. A booked time
    is kept (back to booked); without one, the arrival is cancelled."""
    with transaction.atomic():
        live = (
            Appointment.objects.select_for_update().filter(bag=bag, state=Appointment.State.ARRIVED).first()
        )
        if live is None:
            return False
        if live.slot_id:
            Appointment.objects.filter(pk=live.pk).update(state=Appointment.State.BOOKED, arrived_at=None)
        else:
            _close(live, Appointment.State.CANCELLED, now=timezone.now())
        return True


def done_for_bags(*, bag_ids, now=None) -> int:
    """The patron collected (some of) these bags at the door: their appointments are over."""
    now = now or timezone.now()
    closed = 0
    live = Appointment.objects.select_for_update().filter(bag_id__in=list(bag_ids), state__in=LIVE)
    for appointment in live.order_by("slot_id", "pk"):  # slots in id order, as booking does
        _close(appointment, Appointment.State.DONE, now=now)
        closed += 1
    return closed


# A booked time this far behind is missed: the booking ends, the patron may book again
# (and still comes whenever the library is open).
MISSED_AFTER = datetime.timedelta(hours=2)


def close_finished(*, limit: int = 500, now=None) -> int:
    """Appointments of bags closed some other way (expired, cancelled, collected through
    another screen): done if something was collected, else cancelled, and their places
    freed; and bookings whose time is long past. Run by the scheduler."""
    now = now or timezone.now()
    today = _start_of_day(now)
    collected = Request.objects.filter(bag=OuterRef("bag"), status=Status.COLLECTED)
    missed = Q(state=Appointment.State.BOOKED, slot__starts_at__lt=now - MISSED_AFTER)
    # "I'm here" is for today: by the next day the patron has long gone. If they came
    # a day early, before a time booked for today or later, that booking stands, as
    # "not here" would have kept it: they may still come at the time they chose.
    Appointment.objects.filter(
        state=Appointment.State.ARRIVED, arrived_at__lt=today, slot__starts_at__gte=today
    ).update(state=Appointment.State.BOOKED, arrived_at=None)
    left = Q(state=Appointment.State.ARRIVED, arrived_at__lt=today)
    stale = (
        Appointment.objects.filter(
            # A booking at a library that has closed is kept: it stands if the library
            # reopens in time, and ends as missed otherwise; the patron was told it closed.
            Q(state__in=LIVE) & (~Q(bag__state=Bag.State.OPEN) | missed | left)
        )
        .annotate(collected=Exists(collected))
        .select_related("bag__branch", "slot")
        .order_by("pk")[:limit]
    )
    closed = 0
    for appointment in stale:
        state = Appointment.State.DONE if appointment.collected else Appointment.State.CANCELLED
        with transaction.atomic():
            closed += _close(appointment, state, now=now)
    for appointment in _outside_hours(now, limit=limit):
        with transaction.atomic():
            # The patron would come to a closed door: to be told, with another time to
            # choose (``notices.compose.compose_time_cancelled`` reads the mark).
            if _close(appointment, Appointment.State.CANCELLED, now=now, to_tell=True):
                closed += 1
    return closed


def _outside_hours(now: datetime.datetime, *, limit: int) -> list[Appointment]:
    """Bookings to come whose time the library no longer opens at: a day declared closed,
    or hours cut, since they were made. The door would wait for patrons who cannot come,
    and the places would stay taken; the patron's account no longer shows the time."""
    booked = (
        Appointment.objects.filter(state=Appointment.State.BOOKED, slot__starts_at__gte=now)
        .select_related("slot", "bag__branch")
        .order_by("slot__starts_at", "pk")
    )
    # Closed days read up to the latest booking: a bag may be held for months (the
    # policy's days, kept longer, reopenings), and so may its booking.
    latest = booked.aggregate(latest=Max("slot__starts_at"))["latest"]
    if latest is None:
        return []
    today, last = timezone.localdate(now), timezone.localdate(latest)
    gone, open_at = [], {}  # by branch: is it open at this moment
    for appointment in booked.iterator(chunk_size=1000):
        branch, start = appointment.bag.branch, appointment.slot.starts_at
        if branch.pk not in open_at:
            open_at[branch.pk] = opening(branch, today, last)
        if not open_at[branch.pk](start):
            gone.append(appointment)
            if len(gone) >= limit:
                break
    return gone


def _start_of_day(now: datetime.datetime) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), datetime.time.min))


def _close(appointment: Appointment, state: str, *, now, to_tell: bool = False) -> bool:
    """Close a live appointment and give its place back; False when it was no longer live
    (closed meanwhile by another screen or sweep: nothing to give back twice)."""
    live = Appointment.objects.filter(pk=appointment.pk, state__in=LIVE)
    if not live.update(state=state, closed_at=now, to_tell=to_tell):
        return False
    if appointment.slot_id:
        Slot.objects.filter(pk=appointment.slot_id, booked__gt=0).update(booked=F("booked") - 1)
    return True
