"""A picker scans the listed copy while another picker's swap (another copy of the
title, scanned from the shelf) is between its two transactions (_take_instead commits,
then mark_found's own transaction bags the copy). mark_found's _claim does not check
that the line still lists the copy the first picker holds: the first picker claims the
line (now naming the second picker's copy) and is told to put the listed copy back;
the second picker, the copy that now serves the request in hand, is refused
"line already marked". The request is left set aside, in nobody's bag, on no list."""

import threading

import pytest

from emporter.catalogue.models import CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import Status
from emporter.picking import services as picking
from emporter.picking.models import LineStatus, PickLine
from tests.test_pick_sibling_s12 import a_title_on_the_list


def test_listed_copy_scanned_between_the_two_steps_of_a_swap(branch, monkeypatch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    # Picker 1 scans the listed copy: its line is found (not marked yet).
    line_of_listed = picking.line_for_barcode(run=run, barcode=listed.barcode)
    # Picker 2 scans the copy beside it: the same line, with that copy in hand.
    line_of_sibling = picking.line_for_barcode(run=run, barcode=sibling.barcode)
    assert line_of_listed.pk == line_of_sibling.pk

    real_take_instead = picking._take_instead
    first = {}

    def swap_then_the_other_picker(line, copy, *, actor):
        real_take_instead(line, copy, actor=actor)  # committed on its own
        # Picker 1's mark_found lands here, before picker 2's second transaction.
        try:
            first["result"] = picking.mark_found(line=line_of_listed)
        except ServiceError as error:
            first["error"] = error.code

    monkeypatch.setattr(picking, "_take_instead", swap_then_the_other_picker)
    second_error = None
    try:
        picking.mark_found(line=line_of_sibling)
    except ServiceError as error:
        second_error = error.code

    request.refresh_from_db()
    line = PickLine.objects.get(pk=line_of_sibling.pk)
    # What happened: picker 1 marked the line found for a copy it does not hold and was
    # told to shelve the listed one; picker 2, holding the copy the request now wants,
    # was refused; the request is set aside, in no bag, with no line left to pull.
    try:
        picking.mark_found(line=picking.line_for_barcode(run=run, barcode=sibling.barcode))
        rescan = "taken"
    except ServiceError as error:
        rescan = error.code  # picker 2 scans the copy again
    summary = (
        rescan,
        first,
        second_error,
        request.status,
        request.copy_id == sibling.pk,
        line.status,
        PickLine.objects.filter(request=request, status=LineStatus.PENDING).exists(),
    )
    # Expected: the request ends in a bag with the copy one of the pickers holds, and
    # the other picker is refused (nothing claimed for a copy not in hand).
    assert request.status == Status.READY, summary
    assert request.copy.status == CopyStatus.HOLD_SHELF, summary


@pytest.mark.django_db(transaction=True)
def test_same_race_with_two_threads_on_postgresql(postgres, branch, monkeypatch):
    """The same on PostgreSQL, two threads: picker 1 has loaded the line of the listed
    copy before picker 2's swap commits, and marks it while picker 2 is between its two
    transactions."""
    from tests.test_place_requests_concurrency import run_side_by_side

    run, request, listed, sibling = a_title_on_the_list(branch)
    line_of_listed = picking.line_for_barcode(run=run, barcode=listed.barcode)
    swapped, first_done = threading.Event(), threading.Event()
    real_take_instead = picking._take_instead

    def swap_then_wait(line, copy, *, actor):
        real_take_instead(line, copy, actor=actor)
        swapped.set()
        assert first_done.wait(10)

    monkeypatch.setattr(picking, "_take_instead", swap_then_wait)

    def picker_with_the_listed_copy():
        try:
            assert swapped.wait(10)
            picking.mark_found(line=line_of_listed)
        finally:
            first_done.set()

    def picker_with_the_copy_beside_it():
        picking.mark_found(line=picking.line_for_barcode(run=run, barcode=sibling.barcode))

    errors = run_side_by_side(picker_with_the_listed_copy, picker_with_the_copy_beside_it)
    request.refresh_from_db()
    assert request.status == Status.READY, (
        [getattr(e, "code", repr(e)) for e in errors],
        request.status,
        list(PickLine.objects.filter(request=request).values_list("status", "copy_id")),
    )
