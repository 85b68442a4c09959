"""Pickup times and "I'm here": a time is never in the past nor after the bag's deadline,
a slot never takes more patrons than its places, "I'm here" only once the bag is ready,
and the door sees who is there."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation

from emporter.curbside import selectors, services
from emporter.curbside.models import Appointment, PickupSettings, Slot
from emporter.desk.services import hand_over
from emporter.errors import ServiceError
from emporter.holds.models import Bag, Request, Status
from emporter.holds.services import cancel_request, expire_overdue
from emporter.network.models import ClosedDay
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_patron, make_ready_requests
from tests.test_place_requests_concurrency import run_at_once

MONDAY = datetime.date(2026, 12, 7)
WEDNESDAY = MONDAY + datetime.timedelta(days=2)


def at(day, hour, minute=0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def url(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


@pytest.fixture
def times(branch):
    return PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)


def open_all_day(branch):
    """Open now, whatever the time the tests run at: "I'm here" needs an open door."""
    from emporter.network.models import OpeningHours

    branch.hours.all().delete()
    OpeningHours.objects.bulk_create(
        OpeningHours(branch=branch, weekday=d, opens=datetime.time(0), closes=datetime.time(23, 59, 59))
        for d in range(7)
    )


def ready_bag(patron, branch, titles=("Un",), until=WEDNESDAY) -> Bag:
    requests = make_ready_requests(patron, branch, list(titles))
    bag = requests[0].bag
    Bag.objects.filter(pk=bag.pk).update(hold_until=until)
    Request.objects.filter(bag=bag).update(hold_until=until)
    bag.refresh_from_db()
    return bag


def test_times_are_never_past_never_after_the_deadline_and_only_when_open(patron, branch, times):
    bag = ready_bag(patron, branch)
    ClosedDay.objects.create(branch=branch, date=MONDAY + datetime.timedelta(days=1), reason="inventaire")
    slots = selectors.slot_times(bag=bag, settings=times, now=at(MONDAY, 12, 7))
    assert slots[0] == at(MONDAY, 12, 15)  # not 12:00: it has begun
    assert slots[-1] == at(WEDNESDAY, 18, 45)  # the last that ends by closing time
    days = {timezone.localdate(s) for s in slots}
    assert days == {MONDAY, WEDNESDAY}  # Tuesday is closed; nothing after Wednesday
    assert all(datetime.time(10) <= timezone.localtime(s).time() < datetime.time(19) for s in slots)


def test_a_slot_takes_no_more_patrons_than_its_places(branch, times):
    bags = [ready_bag(make_patron(branch, card=f"1000010{n}"), branch, [f"T{n}"]) for n in range(3)]
    now, when = at(MONDAY, 9), at(MONDAY, 10, 30)
    services.book(bag=bags[0], starts_at=when, now=now)
    services.book(bag=bags[1], starts_at=when, now=now)
    with pytest.raises(ServiceError) as full:
        services.book(bag=bags[2], starts_at=when, now=now)
    assert full.value.code == "slot_full"
    slot = Slot.objects.get()
    assert (slot.capacity, slot.booked) == (2, 2)
    # The database refuses an overbooked slot whatever the code says.
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(booked=3)
    left = {c.starts_at: c.left for d in selectors.available(bag=bags[2], now=now) for c in d.choices}
    assert when not in left and left[at(MONDAY, 10, 45)] == 2


def test_choosing_another_time_or_cancelling_gives_the_place_back(patron, branch, times):
    bag = ready_bag(patron, branch)
    now = at(MONDAY, 9)
    first = services.book(bag=bag, starts_at=at(MONDAY, 11), now=now)
    second = services.book(bag=bag, starts_at=at(MONDAY, 14), now=now)
    first.refresh_from_db()
    assert first.state == Appointment.State.CANCELLED
    assert dict(Slot.objects.values_list("starts_at", "booked")) == {at(MONDAY, 11): 0, at(MONDAY, 14): 1}
    assert services.cancel(appointment=second)
    assert Slot.objects.get(starts_at=at(MONDAY, 14)).booked == 0
    assert not Appointment.objects.filter(state__in=["booked", "arrived"]).exists()


@pytest.mark.parametrize(
    "when",
    [at(MONDAY, 8, 45), at(WEDNESDAY + datetime.timedelta(days=1), 11), at(MONDAY, 11, 7), at(MONDAY, 19)],
    ids=["past", "after the deadline", "not a slot start", "closing time"],
)
def test_a_time_not_offered_is_refused(patron, branch, times, when):
    bag = ready_bag(patron, branch)
    with pytest.raises(ServiceError) as error:
        services.book(bag=bag, starts_at=when, now=at(MONDAY, 9))
    assert error.value.code == "slot_unavailable"
    assert not Appointment.objects.exists()


def test_i_am_here_only_once_the_bag_is_ready(patron, branch):
    bag = ready_bag(patron, branch, ["Un", "Deux"])
    for request in bag.requests.all():
        cancel_request(request=request)
    with pytest.raises(ServiceError) as error:
        services.i_am_here(bag=bag)
    assert error.value.code == "bag_not_ready"

    ready = ready_bag(patron, branch, ["Trois"])
    with pytest.raises(ServiceError) as shut:
        services.i_am_here(bag=ready, now=at(MONDAY, 20))  # after closing time: nobody at the door
    assert shut.value.code == "library_not_open_now"
    arrival = services.i_am_here(bag=ready, now=at(MONDAY, 11))
    again = services.i_am_here(bag=ready, now=at(MONDAY, 11, 5))
    assert arrival.pk == again.pk and arrival.state == Appointment.State.ARRIVED
    assert (
        services.close_finished(now=at(MONDAY + datetime.timedelta(days=1), 9)) == 1
    )  # gone by the next day
    arrival.refresh_from_db()
    assert arrival.state == Appointment.State.CANCELLED


def door_client(client, branch):
    user = get_user_model().objects.create_user(username="porte", password="x")
    StaffRole.objects.create(user=user, role=Role.DOOR_DESK, branch=branch)
    client.force_login(user)
    return client


def test_the_door_sees_who_is_here_and_the_hand_over_ends_the_appointment(client, patron, branch, times):
    open_all_day(branch)
    bag = ready_bag(patron, branch, ["Un"], until=timezone.localdate() + datetime.timedelta(days=5))
    services.i_am_here(bag=bag)
    door = door_client(client, branch).get(url("desk:door", branch.pk))
    assert "At the door now" in door.text and bag.label in door.text and "Camille" in door.text
    handed = client.post(
        url("desk:hand_over", branch.pk),
        {"card": patron.card_number, "nonce": "a" * 32, "requests": [r.pk for r in bag.requests.all()]},
    )
    assert handed.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.state == Appointment.State.DONE
    assert bag.label not in client.get(url("desk:door", branch.pk)).text.split("At the door now")[1]


def test_the_patron_books_from_the_account_and_nobody_else_can(client, patron, branch, times):
    bag = ready_bag(patron, branch, ["Un"], until=timezone.localdate() + datetime.timedelta(days=5))
    open_all_day(branch)  # "I'm here" is offered only while the door is open
    client.force_login(patron.user)
    account = client.get(url("patrons:account"))
    assert url("curbside:times", bag.pk) in account.text and url("curbside:here", bag.pk) in account.text
    page = client.get(url("curbside:times", bag.pk))
    choice = selectors.available(bag=bag)[-1].choices[0].starts_at
    assert choice.isoformat() in page.text or timezone.localtime(choice).isoformat() in page.text
    booked = client.post(url("curbside:times", bag.pk), {"starts_at": timezone.localtime(choice).isoformat()})
    assert booked.status_code == 302
    assert Appointment.objects.get().slot.starts_at == choice

    intruder = make_patron(branch, card="10000009")
    client.force_login(intruder.user)
    assert client.get(url("curbside:times", bag.pk)).status_code == 404
    assert client.post(url("curbside:here", bag.pk)).status_code == 404


def test_the_times_page_of_a_bag_already_collected_says_nothing_waits(client, patron, branch, times):
    """Reached from the "ready" email after the hand-over: no times, no "waits until"."""
    bag = ready_bag(patron, branch, ["Un"], until=timezone.localdate() + datetime.timedelta(days=5))
    hand_over(patron=patron, branch=branch)
    client.force_login(patron.user)
    page = client.get(url("curbside:times", bag.pk))
    assert page.status_code == 200
    assert "Nothing waits in your bag" in page.text and "starts_at" not in page.text
    assert "waits at" not in page.text


def test_the_ready_email_offers_a_time_where_the_library_has_them(patron, branch, times, settings):
    from django.core import mail

    from emporter.notices import compose, outbox

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    bag = ready_bag(patron, branch, ["Un"], until=timezone.localdate() + datetime.timedelta(days=5))
    later = timezone.now() + datetime.timedelta(hours=4)
    compose.compose_all(later)
    outbox.send_due(later)
    ready = [m for m in mail.outbox if url("curbside:times", bag.pk).replace("/en/", "/") in m.body]
    assert len(ready) == 1


def test_a_bag_that_expires_gives_its_place_back(patron, branch, times):
    bag = ready_bag(patron, branch, ["Un"], until=MONDAY)
    services.book(bag=bag, starts_at=at(MONDAY, 15), now=at(MONDAY, 9))
    expire_overdue(today=MONDAY + datetime.timedelta(days=1))
    assert services.close_finished() == 1
    assert Appointment.objects.get().state == Appointment.State.CANCELLED
    assert Slot.objects.get().booked == 0


@pytest.mark.django_db(transaction=True)
def test_many_patrons_for_the_last_places_exactly_the_places_are_taken(postgres):
    from tests.conftest import make_branch

    branch = make_branch()
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=3)
    bags = [ready_bag(make_patron(branch, card=f"4000000{n}"), branch, [f"R{n}"]) for n in range(8)]
    when, now = at(MONDAY, 10), at(MONDAY, 9)
    results = run_at_once([lambda b=b: services.book(bag=b, starts_at=when, now=now) for b in bags])
    booked = [r for r in results if isinstance(r, Appointment)]
    assert len(booked) == 3
    assert {r.code for r in results if isinstance(r, ServiceError)} == {"slot_full"}
    assert Slot.objects.get().booked == 3
    assert Request.objects.filter(status=Status.READY).count() == 8


def test_the_api_lists_books_and_says_here(client, patron, branch, times):
    from tests.test_api import V1, post, sign_in

    open_all_day(branch)
    bag = ready_bag(patron, branch, ["Un", "Deux"], until=timezone.localdate() + datetime.timedelta(days=5))
    headers = sign_in(client)
    (listed,) = client.get(f"{V1}/bags", headers=headers).json()
    assert (listed["label"], listed["ready"], listed["has_times"], listed["appointment"]) == (
        bag.label,
        2,
        True,
        None,
    )
    offered = client.get(f"{V1}/bags/{bag.pk}/times", headers=headers).json()
    assert offered and all(slot["places_left"] == 2 for slot in offered)
    chosen = offered[-1]["starts_at"]
    booked = post(client, f"{V1}/bags/{bag.pk}/appointment", {"starts_at": chosen}, headers)
    assert booked.status_code == 200, booked.content
    assert booked.json()["appointment"]["state"] == "booked"
    odd = post(client, f"{V1}/bags/{bag.pk}/appointment", {"starts_at": "2001-01-01T10:00:00+01:00"}, headers)
    assert (odd.status_code, odd.json()["code"]) == (422, "slot_unavailable")
    # A time with no offset says so, rather than "not one of the times offered".
    naive = post(client, f"{V1}/bags/{bag.pk}/appointment", {"starts_at": "2001-01-01T10:00:00"}, headers)
    assert (naive.status_code, naive.json()["code"]) == (422, "invalid_input")
    assert naive.json()["errors"][0]["type"] == "timezone_aware"
    here = post(client, f"{V1}/bags/{bag.pk}/here", {}, headers)
    assert here.json()["appointment"]["state"] == "arrived"
    assert client.delete(f"{V1}/bags/{bag.pk}/here", headers=headers).status_code == 204
    assert client.get(f"{V1}/bags", headers=headers).json()[0]["appointment"]["state"] == "booked"

    other = make_patron(branch, card="10000008")
    theirs = ready_bag(other, branch, ["Trois"])
    assert client.get(f"{V1}/bags/{theirs.pk}/times", headers=headers).status_code == 404
    assert post(client, f"{V1}/bags/{theirs.pk}/here", {}, headers).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_patrons_swapping_their_times_do_not_deadlock(postgres, monkeypatch):
    """A moves 10:00 → 10:15 while B moves 10:15 → 10:00. Each takes a place in its new
    slot, then frees its old one: unless both slots are locked up front, in id order,
    each holds one and waits for the other."""
    import threading

    from tests.conftest import backend_pid, make_branch, wait_until_blocked
    from tests.test_place_requests_concurrency import run_side_by_side

    branch = make_branch()
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    a_bag = ready_bag(make_patron(branch, card="50000001"), branch, ["A"])
    b_bag = ready_bag(make_patron(branch, card="50000002"), branch, ["B"])
    now, ten, quarter = at(MONDAY, 9), at(MONDAY, 10), at(MONDAY, 10, 15)
    services.book(bag=a_bag, starts_at=ten, now=now)
    services.book(bag=b_bag, starts_at=quarter, now=now)
    real_close, b_pid, results = services._close, [], {}

    def slow_close(appointment, state, *, now):
        if threading.current_thread().name == "A":
            wait_until_blocked(b_pid, unless_done=lambda: "B" in results)  # B is now in its swap too
        return real_close(appointment, state, now=now)

    monkeypatch.setattr(services, "_close", slow_close)

    def a():
        threading.current_thread().name = "A"
        results["A"] = services.book(bag=a_bag, starts_at=quarter, now=now)

    def b():
        b_pid.append(backend_pid())
        threading.Event().wait(0.3)  # A first: it holds its new slot when B starts
        results["B"] = services.book(bag=b_bag, starts_at=ten, now=now)

    assert run_side_by_side(a, b) == []
    assert dict(Slot.objects.values_list("starts_at", "booked")) == {ten: 1, quarter: 1}
    assert {ap.bag_id: ap.slot.starts_at for ap in Appointment.objects.filter(state="booked")} == {
        a_bag.pk: quarter,
        b_bag.pk: ten,
    }


def test_a_closed_library_offers_no_time_and_no_i_am_here(client, patron, branch, times):
    from emporter.holds.continuity import set_mode
    from emporter.network.models import Branch, ServiceMode

    open_all_day(branch)
    bag = ready_bag(patron, branch, ["Un"], until=timezone.localdate() + datetime.timedelta(days=5))
    services.book(bag=bag, starts_at=selectors.available(bag=bag)[-1].choices[-1].starts_at)
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    bag.refresh_from_db()
    with pytest.raises(ServiceError) as error:
        services.i_am_here(bag=bag)
    assert error.value.code == "pickup_library_closed"
    assert selectors.available(bag=bag) == []
    # Its booking is kept: it stands if the library reopens in time, and ends as missed
    # otherwise (the patron was told the library closed).
    assert services.close_finished() == 0
    assert Slot.objects.get().booked == 1
    client.force_login(patron.user)
    account = client.get(url("patrons:account")).text
    assert "This library is closed: your bag waits there until it reopens." in account
    assert url("curbside:here", bag.pk) not in account


def test_the_hold_shelf_shows_booked_times_and_sorts_by_them(client, branch, times):
    early = ready_bag(make_patron(branch, card="60000001", last_name="Zola"), branch, ["Z"])
    late = ready_bag(make_patron(branch, card="60000002", last_name="Abel"), branch, ["A"])
    unbooked = ready_bag(make_patron(branch, card="60000003", last_name="Marin"), branch, ["M"])
    services.book(bag=early, starts_at=at(MONDAY, 10), now=at(MONDAY, 9))
    services.book(bag=late, starts_at=at(MONDAY, 15), now=at(MONDAY, 9))
    from emporter.desk.selectors import hold_shelf

    assert [b.pk for b in hold_shelf(branch=branch, by_time=True)] == [early.pk, late.pk, unbooked.pk]
    assert [b.label for b in hold_shelf(branch=branch)] == sorted(b.label for b in (early, late, unbooked))
    page = door_client(client, branch).get(url("desk:shelf", branch.pk) + "?order=time").text
    assert page.index("Zola") < page.index("Abel") < page.index("Marin")
    assert "Sort by label" in page


def test_i_am_here_can_be_taken_back(client, patron, branch, times):
    open_all_day(branch)
    booked = ready_bag(patron, branch, ["Un"], until=timezone.localdate() + datetime.timedelta(days=5))
    services.book(bag=booked, starts_at=selectors.available(bag=booked)[-1].choices[0].starts_at)
    services.i_am_here(bag=booked)
    client.force_login(patron.user)
    assert url("curbside:not_here", booked.pk) in client.get(url("patrons:account")).text
    client.post(url("curbside:not_here", booked.pk))
    appointment = Appointment.objects.get(bag=booked, state__in=["booked", "arrived"])
    assert (appointment.state, appointment.arrived_at) == (Appointment.State.BOOKED, None)  # the time is kept
    walk_in = ready_bag(make_patron(branch, card="70000001"), branch, ["Deux"])
    services.i_am_here(bag=walk_in)
    assert services.not_here(bag=walk_in)
    assert not Appointment.objects.filter(bag=walk_in, state__in=["booked", "arrived"]).exists()
    door = door_client(client, branch).get(url("desk:door", branch.pk)).text
    assert "Nobody has said they are at the door." in door


def test_a_booking_on_a_day_declared_closed_since_is_cancelled_and_its_place_freed(patron, branch):
    from emporter.curbside.models import Slot
    from emporter.network.models import ClosedDay

    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    bag = ready_bag(patron, branch)
    services.book(bag=bag, starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    services.book(
        bag=ready_bag(make_patron(branch, card="60000002"), branch),
        starts_at=at(WEDNESDAY, 18),
        now=at(MONDAY, 9),
    )
    ClosedDay.objects.create(branch=branch, date=WEDNESDAY, reason="grève")
    assert services.close_finished(now=at(MONDAY, 10)) == 2
    assert not Appointment.objects.filter(state__in=services.LIVE).exists()
    assert set(Slot.objects.values_list("booked", flat=True)) == {0}


def test_a_booking_after_hours_cut_since_is_cancelled_one_within_them_kept(patron, branch):
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    services.book(bag=ready_bag(patron, branch), starts_at=at(WEDNESDAY, 18), now=at(MONDAY, 9))
    kept = make_patron(branch, card="60000003")
    services.book(bag=ready_bag(kept, branch), starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    branch.hours.filter(weekday=WEDNESDAY.weekday()).update(closes=datetime.time(12))
    assert services.close_finished(now=at(MONDAY, 10)) == 1
    assert list(
        Appointment.objects.filter(state__in=services.LIVE).values_list("bag__patron", flat=True)
    ) == [kept.pk]
