"""Surprise bags and pickup times, as a guardian, a patron and a librarian meet them
(review "surprise"): a child's card said as the child's, the ask form sent twice makes
one bag, "patrons per slot" applies to slots already booked, and a closed library's
times page says it is closed."""

import datetime
import re

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from emporter.curbside import selectors as curbside_selectors
from emporter.curbside import services as curbside
from emporter.curbside.models import Appointment, PickupSettings, Slot
from emporter.discovery import services
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.errors import ServiceError
from emporter.holds.continuity import set_mode
from emporter.holds.models import Request, Status
from emporter.holds.selectors import room_left
from emporter.holds.services import place_requests
from emporter.network.models import Branch, ServiceMode
from tests.conftest import make_patron, make_record
from tests.test_curbside import MONDAY, WEDNESDAY, at, open_all_day, ready_bag

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(branch):
    parent = make_patron(branch, card="20000001", first_name="Nadia", last_name="Benali")
    child = make_patron(
        branch, card="20000002", first_name="Lina", last_name="Benali", category="child", guardian=parent
    )
    return parent, child


# -- 1. A guardian is told about the child's card -----------------------------------------


@pytest.mark.parametrize("fault, code", [("blocked", "child_blocked"), ("expired", "child_card_expired")])
def test_a_guardian_asking_for_a_blocked_or_expired_child_is_told_about_the_child(
    branch, family, fault, code
):
    """As the basket says it ("Lina's account is blocked"), not "your account"."""
    parent, child = family
    if fault == "blocked":
        child.blocked_reason = "retards"
    else:
        child.card_expires = timezone.localdate() - datetime.timedelta(days=1)
    child.save()
    with pytest.raises(ServiceError) as refused:
        services.create_surprise_request(asked_by=parent, patron=child, pickup_branch=branch, how_many=1)
    assert refused.value.code == code
    assert "Lina" in refused.value.message
    assert not SurpriseRequest.objects.exists()


# -- 2. The ask form sent twice ---------------------------------------------------------


def _rendered_form(client, parent, branch, how_many=3) -> dict:
    """What the page's form sends: its fields, and whatever it carries hidden (its key)."""
    page = client.get("/discover/surprise/")
    form = {"for_whom": parent.pk, "how_many": how_many, "pickup_branch": branch.pk}
    for name, value in re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page.content.decode()):
        if name != "csrfmiddlewaretoken":
            form.setdefault(name, value)
    return form


def test_the_ask_form_sent_twice_asks_for_one_bag(client, branch, family):
    """A double click, or a reload after a time-out: the second send is answered as the
    first (its success, not "no more documents"), and makes nothing."""
    parent, _child = family
    client.force_login(parent.user)
    form = _rendered_form(client, parent, branch, how_many=8)  # all the allowance
    client.post("/discover/surprise/", form, follow=True)  # its message shown and gone
    again = client.post("/discover/surprise/", form, follow=True)
    assert SurpriseRequest.objects.filter(status=SurpriseStatus.OPEN).count() == 1
    assert [m.level_tag for m in again.context["messages"]] == ["success"]


def test_each_rendering_of_the_form_asks_for_a_bag_of_its_own(client, branch, family):
    parent, _child = family
    client.force_login(parent.user)
    client.post("/discover/surprise/", _rendered_form(client, parent, branch, how_many=2))
    client.post("/discover/surprise/", _rendered_form(client, parent, branch, how_many=2))
    assert SurpriseRequest.objects.filter(asked_by=parent).count() == 2


def test_a_key_sent_again_for_another_reader_is_refused_saying_for_whom(branch, family):
    """The page's Back button, another child chosen, the same key sent: the page said
    the child's bag was asked for, and none was."""
    parent, child = family
    key = "a" * 32
    services.create_surprise_request(
        asked_by=parent, patron=parent, pickup_branch=branch, how_many=2, key=key
    )
    with pytest.raises(ServiceError) as refused:
        services.create_surprise_request(
            asked_by=parent, patron=child, pickup_branch=branch, how_many=1, key=key
        )
    assert refused.value.code == "surprise_form_used" and "Nadia" in refused.value.message
    assert SurpriseRequest.objects.count() == 1


def test_a_key_is_the_askers_own(branch, family):
    parent, child = family
    neighbour = make_patron(branch, card="20000003", first_name="Omar", last_name="Diallo")
    services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=branch, how_many=1, key="b" * 32
    )
    services.create_surprise_request(
        asked_by=neighbour, patron=neighbour, pickup_branch=branch, how_many=1, key="b" * 32
    )
    assert SurpriseRequest.objects.count() == 2


def test_the_database_keeps_one_bag_per_asker_and_key(branch, family):
    parent, child = family
    row = {"asked_by": parent, "pickup_branch": branch, "how_many": 1, "ask_key": "c" * 32}
    SurpriseRequest.objects.create(patron=parent, **row)
    with pytest.raises(IntegrityError), transaction.atomic():
        SurpriseRequest.objects.create(patron=child, **row)


def test_two_sends_at_once_for_two_readers_make_one_bag(branch, family, monkeypatch):
    """The other send's bag committed just after this one looked (for another reader, so
    the reader's row lock did not serialise them): the constraint refuses the second
    row, and this send is told the form was used for the other reader."""
    parent, child = family
    key = "d" * 32
    SurpriseRequest.objects.create(
        patron=child, asked_by=parent, pickup_branch=branch, how_many=1, ask_key=key
    )
    real, looks = services._asked_before, []

    def missed_twice(asker, k, patron):  # both look-ups before the insert missed it
        looks.append(k)
        return None if len(looks) <= 2 else real(asker, k, patron)

    monkeypatch.setattr(services, "_asked_before", missed_twice)
    with pytest.raises(ServiceError) as refused:
        services.create_surprise_request(
            asked_by=parent, patron=parent, pickup_branch=branch, how_many=2, key=key
        )
    assert refused.value.code == "surprise_form_used" and len(looks) == 3
    assert SurpriseRequest.objects.count() == 1


# -- 3. "Patrons per slot" changed after a slot was booked --------------------------------


def _second_bag(branch):
    return ready_bag(make_patron(branch, card="60000002", last_name="Abel"), branch)


def _offered(bag) -> list[datetime.datetime]:
    return [c.starts_at for d in curbside_selectors.available(bag=bag, now=at(MONDAY, 9)) for c in d.choices]


def test_lowering_the_places_per_slot_applies_to_a_slot_already_booked(patron, branch):
    """The door is short-staffed: the librarian lowers "patrons per slot" from 4 to 1.
    The slot booked before takes nobody more, and the times page no longer offers it;
    the patron who had it keeps it."""
    settings = PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=4)
    first = curbside.book(bag=ready_bag(patron, branch), starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    settings.per_slot = 1
    settings.save()
    other = _second_bag(branch)
    assert at(WEDNESDAY, 11) not in _offered(other)
    with pytest.raises(ServiceError) as full:
        curbside.book(bag=other, starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    assert full.value.code == "slot_full"
    first.refresh_from_db()
    assert first.state == "booked"


def test_lowered_below_what_is_booked_the_slot_keeps_its_patrons(patron, branch):
    settings = PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=3)
    booked = []
    for n in range(2):
        bag = ready_bag(make_patron(branch, card=f"6100000{n}"), branch, [f"T{n}"])
        booked.append(curbside.book(bag=bag, starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9)))
    settings.per_slot = 1
    settings.save()
    with pytest.raises(ServiceError):
        curbside.book(bag=ready_bag(patron, branch), starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    assert Slot.objects.get(starts_at=at(WEDNESDAY, 11)).booked == 2
    assert {Appointment.objects.get(pk=a.pk).state for a in booked} == {"booked"}


def test_raising_the_places_per_slot_applies_to_a_slot_already_booked(patron, branch):
    settings = PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=1)
    curbside.book(bag=ready_bag(patron, branch), starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    settings.per_slot = 3
    settings.save()
    other = _second_bag(branch)
    assert at(WEDNESDAY, 11) in _offered(other)
    curbside.book(bag=other, starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    slot = Slot.objects.get(starts_at=at(WEDNESDAY, 11))
    assert (slot.booked, slot.capacity) == (2, 3)


# -- 4. The times page of a bag at a closed library ---------------------------------------


def test_the_times_page_of_a_bag_at_a_closed_library_says_it_is_closed(client, patron, branch):
    """The "ready" email links here. Once the library has closed, the page says what the
    account page says, not "waits until <date>", nor times to book."""
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    open_all_day(branch)
    bag = ready_bag(patron, branch, until=timezone.localdate() + datetime.timedelta(days=5))
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    client.force_login(patron.user)
    page = client.get(f"/en/account/bags/{bag.pk}/times/").content.decode()
    assert "This library is closed: your bag waits there until it reopens." in page
    assert "come whenever the library is open" not in page
    assert "Book this time" not in page
    assert f"waits at {branch.name} until" not in page


# -- An open surprise bag holds its places --------------------------------------------


def test_places_an_open_surprise_bag_holds_are_not_handed_out_by_the_basket(branch, family):
    """The surprise page counted an open bag's documents against the limit of 8 ("you can
    ask for 5 more"), the basket did not: the patron placed 8 more, and the bag the
    librarian then composed was refused whole, left open in the queue."""
    parent, _child = family
    surprise = services.create_surprise_request(
        asked_by=parent, patron=parent, pickup_branch=branch, how_many=3
    )
    records = [make_record(title=f"Titre {n}", copies=[branch]).pk for n in range(8)]
    outcomes = place_requests(patron=parent, record_ids=records, pickup_branch=branch)
    assert [o.ok for o in outcomes].count(True) == 5  # 8, less the 3 the bag holds
    assert {o.error.code for o in outcomes if not o.ok} == {"limit_reached_with_surprise"}

    chosen = [make_record(title=f"Surprise {n}", copies=[branch]).pk for n in range(3)]
    composed = services.compose_surprise_request(surprise=surprise, record_ids=chosen, actor=None)
    assert all(o.ok for o in composed)
    assert Request.objects.filter(patron=parent, status=Status.PLACED).count() == 8
    surprise.refresh_from_db()
    assert surprise.status == SurpriseStatus.COMPOSED


def test_a_bag_whose_documents_all_fail_stays_open_with_its_places(branch, family):
    parent, _child = family
    surprise = services.create_surprise_request(
        asked_by=parent, patron=parent, pickup_branch=branch, how_many=2
    )
    gone = make_record(title="Plus là", copies=[])
    composed = services.compose_surprise_request(surprise=surprise, record_ids=[gone.pk], actor=None)
    assert not any(o.ok for o in composed)
    surprise.refresh_from_db()
    assert surprise.status == SurpriseStatus.OPEN
    assert room_left(parent, 0) == 6


def test_the_phone_desk_counts_an_open_bags_places_before_confirming(client, branch):
    """Its line said "0 active + 4 in the basket, limit 8" with no warning, and confirming
    refused the fourth."""
    from tests.test_phone_desk import add_all, make_staff, patron_url

    patron = make_patron(branch, card="20000009", first_name="Awa", last_name="Sow")
    services.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=5)
    client.force_login(make_staff(branch=branch))
    add_all(client, patron, [make_record(title=f"Titre {n}", copies=[branch]) for n in range(4)])
    page = client.get("/en" + patron_url(patron)).content.decode()
    assert "An open surprise bag holds 5 place" in page or "Open surprise bags hold 5 places" in page
    assert "the ones over the limit will be refused" in page


def test_the_api_says_the_places_an_open_bag_holds(client, branch):
    from tests.test_api import V1, sign_in

    patron = make_patron(branch)
    services.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=8)
    me = client.get(f"{V1}/me", headers=sign_in(client)).json()
    assert (me["active_requests"], me["promised_places"], me["max_active"]) == (0, 8, 8)
