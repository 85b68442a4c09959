"""d9047fd: make_ready now changes the copy (which locks the title's record, through the
availability trigger) before _put_in_bag locks the bag's ready requests. The door's
hand_over locks the household's ready requests first, then changes their copies (the
records). A guardian collecting at the door while a picker bags, into the child's open
bag, another copy of a title the guardian is collecting: the picker holds record X and
waits for the child's ready requests; the door holds those and waits for record X.
PostgreSQL kills one of them. Before d9047fd the picker waited on the requests before
touching the record: no cycle."""

import threading

import pytest

from emporter.desk import services as desk
from emporter.holds.models import Status
from emporter.holds.services import place_request
from emporter.picking import services as picking
from tests.conftest import backend_pid, make_patron, make_ready_requests, make_record, wait_until_blocked
from tests.test_place_requests_concurrency import run_side_by_side


@pytest.mark.django_db(transaction=True)
def test_guardian_at_the_door_and_a_picker_bagging_the_childs_copy_of_the_same_title(
    postgres, branch, monkeypatch
):
    guardian = make_patron(branch, card="30000001", last_name="Roux")
    child = make_patron(branch, card="30000002", last_name="Roux", first_name="Léo", guardian=guardian)
    record = make_record(title="Le Petit Prince", copies=[branch, branch])
    mine = place_request(patron=guardian, record_id=record.pk, pickup_branch=branch)[0]
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get(request=mine))
    make_ready_requests(child, branch, ["Tintin"])  # the child's bag holds a document ready
    theirs = place_request(patron=child, record_id=record.pk, pickup_branch=branch)[0]
    line = picking.build_run(branch=branch, kind="late").lines.get(request=theirs)

    door_has_requests, picker_done, picker_pid = threading.Event(), threading.Event(), []
    real_transition_all = desk.transition_all

    def lend_once_the_picker_waits(requests, new, **kwargs):
        result = real_transition_all(requests, new, **kwargs)  # the household's requests are locked
        door_has_requests.set()
        wait_until_blocked(picker_pid, unless_done=picker_done.is_set)
        return result  # then _lend changes the copies (their records)

    monkeypatch.setattr(desk, "transition_all", lend_once_the_picker_waits)

    def door():
        desk.hand_over(patron=guardian, branch=branch)

    def picker():
        picker_pid.append(backend_pid())
        try:
            assert door_has_requests.wait(10)
            picking.mark_found(line=line)
        finally:
            picker_done.set()

    errors = run_side_by_side(door, picker)
    assert errors == [], [repr(e) for e in errors]
    theirs.refresh_from_db()
    assert theirs.status == Status.READY
