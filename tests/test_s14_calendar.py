"""Calendar findings of the fourteenth session's review: a lending library whose hours are
not entered yet still gets its morning list (its copies were set aside, and nobody was
asked to pull them); a closing undone within CLOSING_GRACE leaves its bags' deadlines
alone (a mistaken click gave every bag there a whole new hold); a bag kept longer is
reminded again on the eve of its new last day."""

import datetime
import zoneinfo

from django.utils import timezone

from emporter.holds.continuity import set_mode
from emporter.holds.models import Bag, Request
from emporter.holds.services import keep_bag_until, place_request
from emporter.network.calendar import nth_open_day
from emporter.network.models import Branch, ServiceMode
from emporter.notices.compose import compose_all
from emporter.notices.models import Kind, Notice
from emporter.picking.tasks import branches_due
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TUESDAY = datetime.date(2027, 3, 9)
WEDNESDAY, THURSDAY, FRIDAY = (TUESDAY + datetime.timedelta(days=n) for n in (1, 2, 3))


def at(day, hour):
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=PARIS)


def test_a_lending_library_without_opening_hours_gets_its_morning_list(db):
    branch = make_branch(weekdays=[])  # click and collect, hours not entered yet
    place_request(patron=make_patron(branch), record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    assert branch.pk in branches_due(at(TUESDAY, 9))


def test_a_library_with_hours_gets_no_list_on_a_day_it_is_closed(db):
    branch = make_branch(weekdays=[0])  # Mondays only
    assert branch.pk not in branches_due(at(TUESDAY, 9))


def closed_and_reopened(patron, branch, settings, *, closed_for: datetime.timedelta):
    """A bag due tomorrow at ``branch``, which closes and reopens ``closed_for`` later;
    returns the bag and its deadline before."""
    settings.CLOSING_GRACE = 600
    make_ready_requests(patron, branch, ["Un"])
    bag = Bag.objects.get(patron=patron)
    tomorrow = nth_open_day(branch, timezone.localdate() + datetime.timedelta(days=1), 1)
    Bag.objects.filter(pk=bag.pk).update(hold_until=tomorrow)
    Request.objects.filter(bag=bag).update(hold_until=tomorrow)
    here = Branch.objects.filter(pk=branch.pk)
    set_mode(branches=here, mode=ServiceMode.CLOSED, actor=None)
    here.update(mode_changed_at=timezone.now() - closed_for)
    set_mode(branches=here, mode=ServiceMode.CLICK_COLLECT, actor=None)
    bag.refresh_from_db()
    return bag, tomorrow


def test_a_closing_undone_within_the_grace_leaves_the_deadlines_alone(patron, branch, settings):
    bag, tomorrow = closed_and_reopened(patron, branch, settings, closed_for=datetime.timedelta(minutes=1))
    assert bag.hold_until == tomorrow  # a mistaken click


def test_a_closing_that_lasted_gives_the_days_back(patron, branch, settings):
    bag, tomorrow = closed_and_reopened(patron, branch, settings, closed_for=datetime.timedelta(days=3))
    assert bag.hold_until > tomorrow


def test_a_bag_kept_longer_is_reminded_again_on_the_eve_of_its_new_last_day(patron, branch):
    make_ready_requests(patron, branch, ["Un"])
    bag = Bag.objects.get(patron=patron)
    Bag.objects.filter(pk=bag.pk).update(hold_until=WEDNESDAY)
    Request.objects.filter(bag=bag).update(hold_until=WEDNESDAY)
    compose_all(now=at(TUESDAY, 10))
    assert Notice.objects.filter(kind=Kind.REMINDER, bag=bag).count() == 1
    keep_bag_until(bag_id=bag.pk, until=FRIDAY, today=TUESDAY)  # the patron phones
    compose_all(now=at(WEDNESDAY, 10))
    assert Notice.objects.filter(kind=Kind.REMINDER, bag=bag).count() == 1  # not the eve yet
    compose_all(now=at(THURSDAY, 10))
    assert Notice.objects.filter(kind=Kind.REMINDER, bag=bag).count() == 2
