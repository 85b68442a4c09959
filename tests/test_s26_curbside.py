"""A patron who said "I'm here" a day before the time they booked keeps that time
(twenty-sixth session): the next day's sweep cancelled the booking with the arrival."""

import datetime

from emporter.curbside import services
from emporter.curbside.models import Appointment, PickupSettings, Slot
from tests.test_curbside import MONDAY, WEDNESDAY, at, ready_bag

TUESDAY, THURSDAY = (MONDAY + datetime.timedelta(days=n) for n in (1, 3))


def _early_arrival(patron, branch):
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    bag = ready_bag(patron, branch)
    services.book(bag=bag, starts_at=at(WEDNESDAY, 10), now=at(MONDAY, 9))
    services.i_am_here(bag=bag, now=at(MONDAY, 11))  # two days early; went home without it
    return bag


def test_a_day_early_the_booked_time_stands(patron, branch):
    bag = _early_arrival(patron, branch)
    assert services.close_finished(now=at(TUESDAY, 9)) == 0
    appointment = Appointment.objects.get()
    assert (appointment.state, appointment.arrived_at) == (Appointment.State.BOOKED, None)
    assert Slot.objects.get().booked == 1
    # And on the day, at the time, they are at the door again.
    assert services.i_am_here(bag=bag, now=at(WEDNESDAY, 10)).pk == appointment.pk


def test_an_arrival_on_the_booked_day_still_ends_that_day(patron, branch):
    bag = _early_arrival(patron, branch)
    services.i_am_here(bag=bag, now=at(WEDNESDAY, 10))
    Appointment.objects.update(arrived_at=at(WEDNESDAY, 10))
    assert services.close_finished(now=at(THURSDAY, 9)) == 1
    assert Appointment.objects.get().state == Appointment.State.CANCELLED
    assert Slot.objects.get().booked == 0
