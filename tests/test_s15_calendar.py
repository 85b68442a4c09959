"""The calendar read one way everywhere (review "dst"):

- a reminder held back by mail trouble while its bag's deadline moved (the phone desk
  kept it longer, its last day was declared closed) no longer says "until tomorrow" of a
  later date: it is outdated, and the new eve brings a fresh one;
- a library whose hours are not entered yet works every day but its closed dates
  (``network.calendar.works_on``): its bags are not held until a holiday, a last day
  declared closed is spared, and "I'm here" is taken on the days it works;
- pickup times on the Sundays the clocks change are stepped in real time: in March no
  time twice, in October the repeated hour offered twice, booked and counted;
- bookings further than 60 days ahead are checked against the closed days declared since;
- the phone desk's "keep until" field starts the day after the bag's last day, and a
  loan is named with the library's date."""

import datetime
import zoneinfo

import pytest
from django.utils import timezone

from emporter.curbside import selectors, services
from emporter.curbside.models import Appointment, PickupSettings, Slot
from emporter.desk.models import Loan
from emporter.errors import ServiceError
from emporter.holds.models import Bag, Request
from emporter.holds.services import expire_overdue, hold_deadline, keep_bag_until
from emporter.network.calendar import works_on
from emporter.network.models import ClosedDay, OpeningHours
from emporter.notices import render
from emporter.notices.compose import compose_all
from emporter.notices.models import Kind, Notice
from emporter.notices.outbox import _outdated
from emporter.patrons.models import Role
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record
from tests.test_door_pages import staff, url

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
DAY = datetime.timedelta(days=1)


def _hold(bag, until):
    Bag.objects.filter(pk=bag.pk).update(hold_until=until)
    Request.objects.filter(bag=bag).update(hold_until=until)
    bag.refresh_from_db()
    return bag


# -- A reminder written for a last day its bag no longer has ---------------------------


def bag_due_tomorrow():
    """A bag due tomorrow, its "ready" email gone yesterday, its reminder composed today
    (and, say, held back by mail trouble)."""
    branch = make_branch(weekdays=range(7))
    patron = make_patron(branch, language="en")
    make_ready_requests(patron, branch, ["Un"])
    bag = Bag.objects.get(patron=patron)
    today = timezone.localdate()
    _hold(bag, today + DAY)
    ten = timezone.make_aware(datetime.datetime.combine(today, datetime.time(10)))
    compose_all(now=ten)  # the "ready" email ...
    Notice.objects.filter(kind=Kind.READY).update(created_at=timezone.now() - DAY)  # ... went yesterday
    compose_all(now=ten)
    return branch, bag, Notice.objects.get(kind=Kind.REMINDER, bag=bag), today


def says_tomorrow_for_a_later_day(notice, today):
    notice.refresh_from_db()
    if _outdated(notice, today=today):
        return False  # skipped: a fresh reminder comes on the new eve
    text = render.render(notice).text
    return "until tomorrow" in text and notice.bag.hold_until != today + DAY


def test_a_reminder_still_true_goes(db):
    _branch, bag, reminder, today = bag_due_tomorrow()
    assert not _outdated(reminder, today=today)
    assert "until tomorrow" in render.render(reminder).text


def test_a_reminder_held_back_while_the_phone_desk_kept_the_bag_longer_does_not_say_tomorrow(db):
    _branch, bag, reminder, today = bag_due_tomorrow()
    keep_bag_until(bag_id=bag.pk, until=today + 6 * DAY, today=today)
    assert not says_tomorrow_for_a_later_day(reminder, today)
    # The new eve brings the reminder of the new last day.
    eve = timezone.make_aware(datetime.datetime.combine(today + 5 * DAY, datetime.time(10)))
    compose_all(now=eve)
    fresh = Notice.objects.get(kind=Kind.REMINDER, bag=bag, dedupe_key=f"reminder:{bag.pk}:{today + 6 * DAY}")
    assert not _outdated(fresh, today=today + 5 * DAY)


def test_a_reminder_held_back_while_its_last_day_was_declared_closed_does_not_say_tomorrow(db):
    branch, bag, reminder, today = bag_due_tomorrow()
    ClosedDay.objects.create(branch=branch, date=today + DAY, reason="grève")
    ClosedDay.objects.create(branch=branch, date=today + 2 * DAY, reason="grève")
    expire_overdue(today=today)  # holds it to the next open day
    bag.refresh_from_db()
    assert bag.hold_until == today + 3 * DAY
    assert not says_tomorrow_for_a_later_day(reminder, today)


# -- A library whose opening hours are not entered yet ----------------------------------


def test_a_library_without_hours_does_not_hold_a_bag_until_a_holiday(db):
    bare = make_branch(code="NEW", name="Nouvelle", weekdays=[])
    today = timezone.localdate()
    ClosedDay.objects.create(branch=None, date=today + 5 * DAY, reason="Férié")
    until = hold_deadline(bare, today, 5)
    assert until == today + 6 * DAY and works_on(bare, until)
    # Without a closed day, still 5 calendar days.
    assert hold_deadline(bare, today, 4) == today + 4 * DAY


def test_a_library_without_hours_spares_a_last_day_declared_closed(db):
    bare = make_branch(code="NEW", name="Nouvelle", weekdays=[])
    patron = make_patron(bare)
    make_ready_requests(patron, bare, ["Un"])
    bag = Bag.objects.get(patron=patron)
    today = timezone.localdate()
    last = today + 2 * DAY
    _hold(bag, last)
    ClosedDay.objects.create(branch=bare, date=last, reason="Grève")
    expire_overdue(today=today)
    bag.refresh_from_db()
    assert bag.hold_until == last + DAY
    assert set(Request.objects.filter(bag=bag).values_list("hold_until", flat=True)) == {last + DAY}


def test_i_am_here_is_taken_at_a_library_without_hours_on_a_day_it_works(db):
    bare = make_branch(code="NEW", name="Nouvelle", weekdays=[])
    patron = make_patron(bare)
    make_ready_requests(patron, bare, ["Un"])
    bag = Bag.objects.get(patron=patron)
    assert works_on(bare, timezone.localdate())
    (shown,) = selectors.bags_of([patron.pk])
    assert shown.open_now  # not "Nouvelle is closed now."
    arrived = services.i_am_here(bag=bag)
    assert arrived.state == Appointment.State.ARRIVED


def test_i_am_here_is_refused_at_a_library_without_hours_on_its_closed_day(db):
    bare = make_branch(code="NEW", name="Nouvelle", weekdays=[])
    patron = make_patron(bare)
    make_ready_requests(patron, bare, ["Un"])
    bag = Bag.objects.get(patron=patron)
    ClosedDay.objects.create(branch=bare, date=timezone.localdate(), reason="Inventaire")
    (shown,) = selectors.bags_of([patron.pk])
    assert not shown.open_now
    with pytest.raises(ServiceError) as error:
        services.i_am_here(bag=bag)
    assert error.value.code == "library_not_open_now"


# -- Pickup times on the Sundays the clocks change (Europe/Paris) -----------------------

SPRING = datetime.date(2027, 3, 28)  # last Sunday of March: 02:00 -> 03:00
AUTUMN = datetime.date(2027, 10, 31)  # last Sunday of October: 03:00 -> 02:00


@pytest.fixture
def paris(settings):
    settings.TIME_ZONE = "Europe/Paris"


def night_library_bag(day):
    """A library open 01:00-04:00 on Sundays (lockers), its bag due on ``day``."""
    branch = make_branch(weekdays=[])
    OpeningHours.objects.create(branch=branch, weekday=6, opens=datetime.time(1), closes=datetime.time(4))
    settings = PickupSettings.objects.create(branch=branch, slot_minutes=30, per_slot=2)
    patron = make_patron(branch)
    make_ready_requests(patron, branch, ["Un"])
    bag = _hold(Bag.objects.get(patron=patron), day)
    return bag, settings


def the_day_before(day):
    return datetime.datetime.combine(day - DAY, datetime.time(12), tzinfo=PARIS)


def test_spring_forward_offers_each_moment_once(db, paris):
    bag, settings = night_library_bag(SPRING)
    times = selectors.slot_times(bag=bag, settings=settings, now=the_day_before(SPRING))
    shown = [t.astimezone(PARIS).strftime("%H:%M") for t in times]
    # 02:00 and 02:30 do not exist that night; 03:00 and 03:30 are offered once.
    assert shown == ["01:00", "01:30", "03:00", "03:30"]
    offered = [
        c.starts_at.strftime("%H:%M")
        for d in selectors.available(bag=bag, now=the_day_before(SPRING))
        for c in d.choices
    ]
    assert offered == shown


def test_fall_back_offers_the_repeated_hour_twice(db, paris):
    bag, settings = night_library_bag(AUTUMN)
    offered = [
        c.starts_at for d in selectors.available(bag=bag, now=the_day_before(AUTUMN)) for c in d.choices
    ]
    assert [t.strftime("%H:%M%z") for t in offered] == [
        "01:00+0200",
        "01:30+0200",
        "02:00+0200",
        "02:30+0200",
        "02:00+0100",
        "02:30+0100",
        "03:00+0100",
        "03:30+0100",
    ]


@pytest.mark.parametrize("offset", ["+02:00", "+01:00"])
def test_fall_back_a_time_in_the_repeated_hour_can_be_booked(db, paris, offset):
    bag, _settings = night_library_bag(AUTUMN)
    now = the_day_before(AUTUMN)
    offered = [c.starts_at for d in selectors.available(bag=bag, now=now) for c in d.choices]
    (chosen,) = [t for t in offered if t.strftime("%H:%M") == "02:30" and t.isoformat().endswith(offset)]
    posted = datetime.datetime.fromisoformat(chosen.isoformat())  # what the page sends back
    appointment = services.book(bag=bag, starts_at=posted, now=now)
    assert appointment.slot.starts_at == chosen
    # Its place is counted at that moment, and at that moment only.
    left = {c.starts_at.isoformat(): c.left for d in selectors.available(bag=bag, now=now) for c in d.choices}
    assert left[chosen.isoformat()] == 1
    assert sum(left.values()) == 2 * len(left) - 1


def test_fall_back_places_left_count_the_bookings_made(db, paris):
    bag, _settings = night_library_bag(AUTUMN)
    moment = datetime.datetime(2027, 10, 31, 0, 30, tzinfo=datetime.UTC)  # 02:30 CEST
    Slot.objects.create(branch=bag.branch, starts_at=moment, capacity=2, booked=1)
    left = {
        c.starts_at.astimezone(datetime.UTC): c.left
        for d in selectors.available(bag=bag, now=the_day_before(AUTUMN))
        for c in d.choices
    }
    assert left[moment] == 1


# -- Bookings far ahead -----------------------------------------------------------------


def test_a_booking_on_a_day_declared_closed_70_days_ahead_is_cancelled(db):
    branch = make_branch(weekdays=range(7))
    settings = PickupSettings.objects.create(branch=branch, slot_minutes=30, per_slot=2)
    patron = make_patron(branch)
    make_ready_requests(patron, branch, ["Un"])
    far = timezone.localdate() + 70 * DAY  # e.g. a policy holding 60 open days
    bag = _hold(Bag.objects.get(patron=patron), far)
    now = timezone.now()
    when = next(
        t for t in selectors.slot_times(bag=bag, settings=settings, now=now) if timezone.localdate(t) == far
    )
    appointment = services.book(bag=bag, starts_at=when, now=now)
    services.close_finished(now=now)
    appointment.refresh_from_db()
    assert appointment.state == Appointment.State.BOOKED  # open that day: kept
    ClosedDay.objects.create(branch=None, date=far, reason="Fermeture exceptionnelle")
    services.close_finished(now=now)
    appointment.refresh_from_db()
    assert appointment.state == Appointment.State.CANCELLED and appointment.to_tell
    assert Slot.objects.get(pk=appointment.slot_id).booked == 0


# -- The phone desk's "keep until" field, a loan's name ---------------------------------


def test_the_keep_until_field_starts_the_day_after_the_last_day(client, db):
    branch = make_branch(weekdays=range(7))
    patron = make_patron(branch)
    make_ready_requests(patron, branch, ["Un"])
    bag = Bag.objects.get(patron=patron)
    client.force_login(staff(Role.PHONE_DESK, branch, username="tel"))
    page = client.get(url("phonedesk:patron", patron.pk)).text
    first = bag.hold_until + DAY
    assert f'min="{first:%Y-%m-%d}"' in page
    # ... a day the desk takes.
    assert keep_bag_until(bag_id=bag.pk, until=first).hold_until == first


def test_a_loan_is_named_with_the_librarys_date(db):
    branch = make_branch()
    copy = make_record(title="Nuit", copies=[branch]).copies.get()
    loan = Loan.objects.create(copy=copy, branch=branch, due_date=datetime.date(2027, 2, 1))
    # Lent at 00:30 in Paris on 2 January: 23:30 on the 1st in UTC.
    loan.checked_out_at = datetime.datetime(2027, 1, 1, 23, 30, tzinfo=datetime.UTC)
    with timezone.override(PARIS):
        assert str(loan).endswith("(2027-01-02)")


def test_a_loan_at_a_library_without_hours_does_not_fall_due_on_a_holiday(db):
    from emporter.network.calendar import due_date
    from tests.conftest import make_branch

    branch = make_branch(code="NEW", name="Sans horaires", weekdays=[])
    start = datetime.date(2026, 12, 1)
    ClosedDay.objects.create(branch=None, date=datetime.date(2026, 12, 29), reason="fermeture")
    assert due_date(branch, start, 28) == datetime.date(2026, 12, 30)
    assert due_date(branch, start, 27) == datetime.date(2026, 12, 28)
