"""The composer runs every few seconds all day: a pass costs what is new, not what is waiting."""

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emporter.holds.services import place_request
from emporter.notices import compose
from emporter.notices.models import Kind, Notice
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record
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
    compose.compose_outcomes(later())  # the "ready" emails come first
    hold_until = run.lines.first().request.bag.hold_until
    eve = datetime.datetime.combine(
        hold_until - datetime.timedelta(days=1), datetime.time(10), tzinfo=timezone.get_current_timezone()
    )
    assert compose.compose_reminders(eve) == 3
    with CaptureQueriesContext(connection) as queries:
        assert compose.compose_reminders(eve) == 0
    # One look for bags not reminded yet; no INSERT refused by the unique key, bag after bag.
    assert len(queries) == 1, [q["sql"] for q in queries]


def _found_elsewhere(patron, branch, other_branch, titles):
    """Requests collected at ``branch`` for documents only ``other_branch`` has, found there."""
    requests = [
        place_request(
            patron=patron, record_id=make_record(title=t, copies=[other_branch]).pk, pickup_branch=branch
        )[0]
        for t in titles
    ]
    for line in picking.build_run(branch=other_branch, kind="late").lines.all():
        picking.mark_found(line=line)
    return requests


def test_documents_arriving_by_van_one_by_one_give_one_ready_email(patron, branch, other_branch):
    requests = _found_elsewhere(patron, branch, other_branch, ["Un", "Deux", "Trois"])
    for n, request in enumerate(requests):
        picking.receive(branch=branch, barcode=request.copy.barcode)
        # The composer passes between two scans: nothing while the rest is in the van.
        expected = 1 if n == len(requests) - 1 else 0
        assert compose.compose_outcomes(timezone.now() + datetime.timedelta(seconds=15)) == expected
    (notice,) = Notice.objects.filter(kind=Kind.READY)
    assert notice.events.count() == 3


def test_a_document_left_in_the_van_does_not_hold_the_email_back_for_long(patron, branch, other_branch):
    first, _second = _found_elsewhere(patron, branch, other_branch, ["Arrivé", "Égaré"])
    picking.receive(branch=branch, barcode=first.copy.barcode)
    assert compose.compose_outcomes(timezone.now()) == 0
    assert compose.compose_outcomes(timezone.now() + compose.ARRIVAL_WAIT) == 1


def test_what_another_library_could_not_find_is_in_the_same_email(patron, branch, other_branch):
    here = requests_for(patron, branch, ["Ici"])[0]
    there, _ = place_request(
        patron=patron, record_id=make_record(title="Là-bas", copies=[other_branch]).pk, pickup_branch=branch
    )
    far_run = picking.build_run(branch=other_branch, kind="late")  # both lists printed at opening
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get(request=here))
    assert compose.compose_outcomes(later()) == 0  # Croix-Rousse's picker has not been yet
    picking.mark_not_found(line=far_run.lines.get(request=there), reason="absent")
    assert compose.compose_outcomes(later()) == 1
    (notice,) = Notice.objects.all()
    assert notice.kind == Kind.READY
    assert {e.to_status for e in notice.events.all()} == {"ready", "not_found"}
