"""A library closed as a pickup point lets go of the copies set aside for it at libraries
still open (twenty-fifth session). The withdraw sweep looked only at copies on a closed
library's shelves: one set aside at an open library, to be collected at a closed one,
was on nobody's list (no list serves a closed pickup) and kept from everyone for the
whole closure."""

from emporter.catalogue.models import CopyStatus
from emporter.holds.continuity import set_mode
from emporter.holds.models import RequestEvent, Status
from emporter.holds.services import place_request, serve_waiting, tell_closed_pickups
from emporter.network.models import Branch, ServiceMode
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record


def switch(branch, mode):
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=mode, actor=None)
    branch.refresh_from_db()


def _collected_at_the_closing_library(branch, other_branch):
    """A patron of ``branch`` asked for a title whose only copy is at ``other_branch``;
    then ``branch`` closes."""
    switch(other_branch, ServiceMode.CLICK_COLLECT)
    record = make_record(title="Le seul exemplaire", copies=[other_branch])
    first = place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)[0]
    assert first.status == Status.PLACED and first.copy.branch == other_branch
    switch(branch, ServiceMode.CLOSED)
    return record, first


def test_its_copy_goes_back_to_the_shelf_and_the_request_waits_with_its_place(branch, other_branch):
    record, first = _collected_at_the_closing_library(branch, other_branch)
    copy = first.copy
    asked_at = first.created_at
    assert picking.withdraw_closed_branches() == 1
    first.refresh_from_db()
    copy.refresh_from_db()
    assert (first.status, first.copy_id, first.created_at) == (Status.WAITING, None, asked_at)
    assert copy.status == CopyStatus.ON_SHELF
    event = RequestEvent.objects.get(request=first, reason="pickup_closed_withdrawn")
    assert event.note == "La bibliothèque où vous avez choisi de le retirer est fermée."
    # Nothing at the open library's morning pull for a pickup nobody serves.
    assert not picking.build_run(branch=other_branch, kind="late").lines.exists()
    # Its patron is told their library closed, once.
    assert tell_closed_pickups() == 1 and tell_closed_pickups() == 0


def test_meanwhile_a_reader_of_the_open_library_can_have_it(branch, other_branch):
    record, first = _collected_at_the_closing_library(branch, other_branch)
    picking.withdraw_closed_branches()
    serve_waiting()  # the closed pickup's request is not served meanwhile
    reader = make_patron(other_branch, card="10000002", last_name="Voisin")
    second = place_request(patron=reader, record_id=record.pk, pickup_branch=other_branch)[0]
    assert second.status == Status.PLACED and second.copy.branch == other_branch
    assert picking.build_run(branch=other_branch, kind="late").lines.get().request == second


def test_when_its_library_reopens_the_request_gets_the_copy_back(branch, other_branch):
    record, first = _collected_at_the_closing_library(branch, other_branch)
    copy = first.copy
    picking.withdraw_closed_branches()
    switch(branch, ServiceMode.CLICK_COLLECT)  # the reopening serves the waiting list
    serve_waiting()
    first.refresh_from_db()
    assert first.status == Status.PLACED and first.copy == copy
