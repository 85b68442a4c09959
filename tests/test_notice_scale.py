"""The composer runs every few seconds all day: a pass costs what is new, not what is waiting."""

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emporter.notices import compose
from emporter.notices.models import Kind, Notice
from emporter.picking import services as picking
from tests.conftest import make_patron
from tests.test_notices import later, requests_for


def _half_pulled(branch, patrons: int, first_card: int):
    """``patrons`` patrons with two documents each on one list, one of them found."""
    people = [make_patron(branch, card=str(first_card + n)) for n in range(patrons)]
    for person in people:
        requests_for(person, branch, [f"Un {person.card_number}", f"Deux {person.card_number}"])
    run = picking.build_run(branch=branch, kind="late")
    for person in people:
        picking.mark_found(line=run.lines.filter(request__patron=person).first())
    return run


def _outcome_queries(now) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert compose.compose_outcomes(now) == 0  # everyone still has a document to pull
    return len(queries)


def test_waiting_for_the_rest_of_a_pull_costs_the_same_for_two_patrons_or_six(branch):
    _half_pulled(branch, 2, 50000000)
    few = _outcome_queries(later())
    _half_pulled(branch, 4, 60000000)
    assert Notice.objects.filter(kind=Kind.READY).count() == 0
    assert _outcome_queries(later()) == few


def test_a_patron_whose_pull_is_done_is_told_while_the_others_wait(branch):
    run = _half_pulled(branch, 3, 70000000)
    done = run.lines.filter(status="pending").first()
    picking.mark_found(line=done)
    assert compose.compose_outcomes(later()) == 1
    (notice,) = Notice.objects.filter(kind=Kind.READY)
    assert notice.patron_id == done.request.patron_id and notice.events.count() == 2


def test_a_second_reminder_pass_tries_no_bag_again(branch):
    for n in range(3):
        patron = make_patron(branch, card=str(80000000 + n))
        requests_for(patron, branch, [f"Rappel {n}"])
    run = picking.build_run(branch=branch, kind="late")
    for line in run.lines.all():
        picking.mark_found(line=line)
    hold_until = run.lines.first().request.bag.hold_until
    eve = datetime.datetime.combine(
        hold_until - datetime.timedelta(days=1), datetime.time(10), tzinfo=timezone.get_current_timezone()
    )
    assert compose.compose_reminders(eve) == 3
    with CaptureQueriesContext(connection) as queries:
        assert compose.compose_reminders(eve) == 0
    # One look for bags not reminded yet; no INSERT refused by the unique key, bag after bag.
    assert len(queries) == 1, [q["sql"] for q in queries]
