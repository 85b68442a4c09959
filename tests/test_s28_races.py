"""Races on PostgreSQL found by the twenty-eighth session's review: a child's placement
while the guardian collects the same title at the door (a deadlock: the placement held
the child's row FOR UPDATE, which the door's loan insert needs to share)."""

import threading

import pytest

from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.holds.models import Request, Status
from emporter.holds.services import place_request
from emporter.picking import services as picking
from tests.conftest import (
    backend_pid,
    make_branch,
    make_patron,
    make_ready_requests,
    make_record,
    wait_until_blocked,
)
from tests.test_place_requests_concurrency import run_side_by_side

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_childs_placement_while_the_guardian_collects_the_same_title_does_not_deadlock(
    postgres, monkeypatch
):
    from emporter.holds import allocation

    branch = make_branch()
    guardian = make_patron(branch, card="30000001", last_name="Roux")
    child = make_patron(branch, card="30000002", last_name="Roux", first_name="Léo", guardian=guardian)
    record = make_record(title="Le Petit Prince", copies=[branch, branch])
    mine = place_request(patron=guardian, record_id=record.pk, pickup_branch=branch)[0]
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get(request=mine))
    make_ready_requests(child, branch, ["Tintin"])  # lent to the child's card at the same visit

    child_locked, door_has_copies, placed = threading.Event(), threading.Event(), threading.Event()
    placement_pid = []
    real_take_copy, real_write_loans = allocation.take_copy, desk._write_loans

    def take_copy_once_the_door_has_changed_copies(**kwargs):
        child_locked.set()  # place_request holds the child's row by now
        assert door_has_copies.wait(10)
        return real_take_copy(**kwargs)

    def write_loans_once_the_placement_waits(**kwargs):
        door_has_copies.set()  # the copies, and so the titles' records, are changed
        wait_until_blocked(placement_pid, unless_done=placed.is_set)
        return real_write_loans(**kwargs)

    monkeypatch.setattr(allocation, "take_copy", take_copy_once_the_door_has_changed_copies)
    monkeypatch.setattr(desk, "_write_loans", write_loans_once_the_placement_waits)

    def placement():
        placement_pid.append(backend_pid())
        try:
            place_request(patron=child, record_id=record.pk, pickup_branch=branch)
        finally:
            placed.set()

    def door():
        assert child_locked.wait(10)
        desk.hand_over(patron=guardian, branch=branch)

    errors = run_side_by_side(placement, door)

    assert errors == [], [repr(e) for e in errors]
    assert Loan.objects.filter(patron__in=[guardian, child]).count() == 2
    assert Request.objects.filter(patron=child, record=record, status=Status.PLACED).exists()
