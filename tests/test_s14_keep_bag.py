"""A patron who cannot come in time phones, and the librarian keeps their bag longer: to
a later open day of its library, within a month, as Koha's and Evergreen's staff move a
waiting hold's expiry. Before, nothing could move a bag's last day but a closing."""

import datetime

import pytest
from django.utils import timezone

from emporter.errors import ServiceError
from emporter.holds.models import Bag, RequestEvent, Status
from emporter.holds.services import KEEP_AT_MOST_DAYS, expire_overdue, keep_bag_until
from emporter.network.calendar import is_open
from emporter.network.models import ClosedDay
from emporter.patrons.models import Role
from tests.conftest import make_ready_requests
from tests.test_door_pages import staff, url


def open_day_after(branch, day):
    day += datetime.timedelta(days=1)
    while not is_open(branch, day):
        day += datetime.timedelta(days=1)
    return day


@pytest.fixture
def bag(patron, branch):
    make_ready_requests(patron, branch, ["Un", "Deux"])
    return Bag.objects.get(patron=patron)


def test_a_bag_kept_longer_moves_its_documents_and_does_not_expire(bag, branch):
    later = open_day_after(branch, open_day_after(branch, bag.hold_until))
    kept = keep_bag_until(bag_id=bag.pk, until=later)
    assert kept.hold_until == later
    assert set(bag.requests.values_list("hold_until", flat=True)) == {later}
    assert RequestEvent.objects.filter(reason="hold_extended", request__bag=bag).count() == 2
    # The old deadline passes: nothing expires; the new one passes: it does.
    assert expire_overdue(today=bag.hold_until + datetime.timedelta(days=1)) == 0
    assert expire_overdue(today=later + datetime.timedelta(days=1)) == 2


@pytest.mark.parametrize("case", ["not_later", "too_long", "closed", "nothing_ready"])
def test_keeping_a_bag_refuses_what_makes_no_sense(bag, branch, case):
    today = timezone.localdate()
    until, code = open_day_after(branch, bag.hold_until), None
    if case == "not_later":
        until, code = bag.hold_until, "keep_not_later"
    elif case == "too_long":
        until, code = (
            open_day_after(branch, today + datetime.timedelta(days=KEEP_AT_MOST_DAYS)),
            "keep_too_long",
        )
    elif case == "closed":
        ClosedDay.objects.create(branch=branch, date=until, reason="Inventaire")
        code = "keep_closed_day"
    else:
        bag.requests.update(status=Status.CANCELLED)
        code = "bag_not_ready"
    with pytest.raises(ServiceError) as error:
        keep_bag_until(bag_id=bag.pk, until=until)
    assert error.value.code == code
    bag.refresh_from_db()
    assert bag.hold_until != until or case == "not_later"


def test_the_phone_desk_keeps_a_callers_bag(client, bag, patron, branch, other_branch):
    client.force_login(staff(Role.PHONE_DESK, branch, username="tel"))
    page = client.get(url("phonedesk:patron", patron.pk)).text
    assert (
        f"Bag {bag.label} at {branch.name}" in page and url("phonedesk:keep_bag", patron.pk, bag.pk) in page
    )
    later = open_day_after(branch, bag.hold_until)
    done = client.post(
        url("phonedesk:keep_bag", patron.pk, bag.pk), {"until": later.isoformat()}, follow=True
    )
    assert f"Bag {bag.label} is kept until" in done.text
    bag.refresh_from_db()
    assert bag.hold_until == later
    wrong = client.post(url("phonedesk:keep_bag", patron.pk, bag.pk), {"until": "2026-02-30"}, follow=True)
    assert "Give the day until which the bag is kept." in wrong.text


def test_the_phone_desk_keeps_no_bag_outside_its_scope(client, bag, patron, other_branch):
    client.force_login(staff(Role.PHONE_DESK, other_branch, username="ailleurs"))
    page = client.get(url("phonedesk:patron", patron.pk)).text
    assert url("phonedesk:keep_bag", patron.pk, bag.pk) not in page
    later = open_day_after(bag.branch, bag.hold_until)
    refused = client.post(
        url("phonedesk:keep_bag", patron.pk, bag.pk), {"until": later.isoformat()}, follow=True
    )
    assert "You may not change bags at" in refused.text
    bag.refresh_from_db()
    assert bag.hold_until != later
