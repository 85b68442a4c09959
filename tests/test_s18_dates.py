"""Dates as the library lives them (review "dates" of the eighteenth session): the picking
page promises no morning list on a day the library is closed, and a "not found" the
waiting list's night sweep writes waits for the morning, as an expired bag's email does."""

import datetime
import zoneinfo

from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.holds.models import Status
from emporter.holds.services import close_waiting_without_copies, place_request
from emporter.network.models import ClosedDay, ServiceMode
from emporter.notices.compose import compose_all
from emporter.notices.models import Kind, Notice
from emporter.patrons.models import Role
from emporter.picking.tasks import branches_due
from tests.conftest import make_branch, make_patron, make_record
from tests.test_door_pages import staff, url

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
PROMISE = "the morning pull is built at"


def picking_page(client, branch) -> str:
    client.force_login(staff(Role.PICKER, branch, username="picker"))
    return client.get(url("picking:index")).content.decode()


def test_the_picking_page_promises_no_run_on_a_closed_day(client, db):
    branch = make_branch(weekdays=range(7), pick_time=datetime.time(0, 1))
    ClosedDay.objects.create(branch=branch, date=timezone.localdate(), reason="Inventaire")
    assert branch.pk not in branches_due()  # the scheduler builds none today, at any hour
    page = picking_page(client, branch)
    assert PROMISE not in page
    assert "No run today: the library is closed" in page


def test_nor_at_a_library_that_lends_nothing(client, db):
    branch = make_branch(weekdays=range(7), mode=ServiceMode.CLOSED)
    assert PROMISE not in picking_page(client, branch)


def test_an_open_day_still_says_when_the_run_is_built(client, db):
    branch = make_branch(weekdays=range(7), pick_time=datetime.time(23, 59))
    assert "No run yet today; the morning pull is built at 23:59." in picking_page(client, branch)


def test_a_not_found_from_the_night_sweep_waits_for_daytime_as_an_expiry_does(db):
    branch = make_branch()
    record = make_record(title="Le Horla", copies=[(branch, CopyStatus.ON_LOAN)])
    request, _ = place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)
    assert request.status == Status.WAITING
    compose_all(now=timezone.now())  # its confirmation, told by day
    # Written off in the library system; the nightly import withdrew it two days ago.
    Copy.objects.filter(record=record).update(
        status=CopyStatus.WITHDRAWN, updated_at=timezone.now() - datetime.timedelta(days=2)
    )
    assert close_waiting_without_copies() == 1  # the sweep's pass at 03:00
    night = datetime.datetime.combine(timezone.localdate(), datetime.time(3), tzinfo=PARIS)
    compose_all(now=night)
    assert not Notice.objects.filter(kind=Kind.NOT_FOUND).exists(), "a 'not found' email written at 03:00"
    compose_all(now=night.replace(hour=9, minute=5))
    assert Notice.objects.filter(kind=Kind.NOT_FOUND).count() == 1
