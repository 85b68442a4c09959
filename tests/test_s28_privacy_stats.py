"""The twenty-eighth session's review of statistics and privacy: a delay shown to the
nearest hour is rounded once, from the seconds; erasing a former guardian forgets them,
not the surprise bag they once asked for the child."""

import datetime

from django.utils import translation

from emporter.discovery.services import cancel_surprise_request, create_surprise_request
from emporter.patrons.models import Patron
from emporter.privacy.services import erase_patron
from emporter.stats import tables
from tests.conftest import make_patron


def test_a_delay_just_under_a_day_and_a_half_hour_is_rounded_once():
    """24 h 29 min 40 s is nearer 24 h than 25 h, as the CSV's 24.49 hours says."""
    delay = datetime.timedelta(hours=24, minutes=29, seconds=40)
    assert tables.plain(delay, tables.DURATION) == 24.49
    with translation.override("en"):
        assert tables.duration_text(delay) == "1 day 0 h"
        assert tables.duration_text(datetime.timedelta(hours=24, minutes=30)) == "1 day 1 h"


def test_half_a_minute_is_rounded_up_as_the_figures_are():
    assert tables.duration_text(datetime.timedelta(minutes=2, seconds=30)) == "0 h 03"
    assert tables.duration_text(datetime.timedelta(minutes=3, seconds=29)) == "0 h 03"


def test_erasing_a_former_guardian_keeps_the_childs_own_surprise_bag(branch):
    guardian = make_patron(branch, card="20000001", first_name="Paul", last_name="Durand")
    child = make_patron(branch, card="20000002", first_name="Lina", last_name="Durand", guardian=guardian)
    surprise = create_surprise_request(
        asked_by=guardian, patron=child, pickup_branch=branch, how_many=3, age=9, tastes="dragons"
    )
    cancel_surprise_request(surprise=surprise)
    # The child is now in someone else's care; her former guardian asks to be erased.
    Patron.objects.filter(pk=child.pk).update(guardian=None)

    erase_patron(patron_id=guardian.pk)

    surprise.refresh_from_db()
    assert surprise.asked_by_id is None and surprise.ask_key is None  # the adult is forgotten
    assert (surprise.patron_id, surprise.age, surprise.tastes) == (child.pk, 9, "dragons")


def test_erasing_a_patron_still_forgets_their_own_surprise_bags(branch):
    reader = make_patron(branch, card="20000003")
    surprise = create_surprise_request(
        asked_by=reader, patron=reader, pickup_branch=branch, how_many=3, age=40, tastes="polars"
    )
    cancel_surprise_request(surprise=surprise)

    erase_patron(patron_id=reader.pk)

    surprise.refresh_from_db()
    assert (surprise.patron_id, surprise.asked_by_id, surprise.age, surprise.tastes) == (None, None, None, "")
