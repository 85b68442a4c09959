"""A patron re-booking a missed time while the sweep ends it (PostgreSQL, real threads)."""

import threading

import pytest

from emporter.curbside import services
from emporter.curbside.models import Appointment, PickupSettings, Slot
from tests.conftest import backend_pid, make_patron, wait_until_blocked
from tests.test_curbside import MONDAY, at, ready_bag
from tests.test_place_requests_concurrency import run_side_by_side

pytestmark = pytest.mark.django_db(transaction=True)


def test_rebooking_while_the_sweep_ends_the_missed_time_does_not_deadlock(postgres, branch, monkeypatch):
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    bag = ready_bag(make_patron(branch, card="60000001"), branch, ["A"])
    services.book(bag=bag, starts_at=at(MONDAY, 10), now=at(MONDAY, 9))
    later = at(MONDAY, 12, 30)  # 10:00 missed by more than two hours
    patron_pid, done = [], {}
    real_close = services._close

    def close_when_the_patron_waits(appointment, state, *, now):
        # The sweep holds the old appointment; it goes on once the patron is blocked.
        if threading.current_thread().name == "sweep":
            wait_until_blocked(patron_pid, unless_done=lambda: "patron" in done)
        return real_close(appointment, state, now=now)

    monkeypatch.setattr(services, "_close", close_when_the_patron_waits)

    def sweep():
        threading.current_thread().name = "sweep"
        done["sweep"] = services.close_finished(now=later)

    def patron():
        patron_pid.append(backend_pid())
        threading.Event().wait(0.3)  # the sweep has the old appointment by now
        done["patron"] = services.book(bag=bag, starts_at=at(MONDAY, 14), now=later)

    assert run_side_by_side(sweep, patron) == []
    assert Appointment.objects.get(state__in=services.LIVE).slot.starts_at == at(MONDAY, 14)
    assert dict(Slot.objects.values_list("starts_at", "booked")) == {at(MONDAY, 10): 0, at(MONDAY, 14): 1}
