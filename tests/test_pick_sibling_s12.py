"""Another copy of the title serves the request (Koha and Evergreen fill a title-level
hold with any copy that may): the picker scans the copy beside the one the list names,
same record, and the request takes it. The listed copy goes back on its shelf, or to the
next patron waiting for the title. A copy that cannot serve is refused in words: another
library's, held for another request, not on the shelf, a kind the request may not take.
"""

import threading

import pytest

from emporter.catalogue.models import Copy, CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import Request, RequestEvent, RequestPolicy, Status
from emporter.holds.services import place_request
from emporter.patrons.models import Role
from emporter.picking import services as picking
from emporter.picking.models import LineStatus, PickLine
from tests.conftest import (
    backend_pid,
    make_department,
    make_location,
    make_patron,
    make_record,
    wait_until_blocked,
)
from tests.test_staff_ui_fixes import staff


def place(patron, record, branch):
    return place_request(patron=patron, record_id=record.pk, pickup_branch=branch)[0]


def a_title_on_the_list(branch, copies=None, title="Classic standards"):
    """A request for a title with two copies here (or ``copies``): the first is set aside
    and listed; the second stands beside it on the shelf."""
    record = make_record(title=title, copies=copies or [branch, branch])
    request = place(make_patron(branch, card="20690011", last_name="Martin"), record, branch)
    run = picking.build_run(branch=branch, kind="late")
    sibling = Copy.objects.filter(record=record).exclude(pk=request.copy_id).order_by("pk").first()
    return run, request, request.copy, sibling


def scan(client, run, barcode, **headers):
    return client.post(f"/staff/picking/runs/{run.pk}/scan/", {"barcode": barcode}, **headers)


def scan_json(client, run, barcode):
    return scan(client, run, barcode, HTTP_ACCEPT="application/json")


def refused(run, barcode) -> ServiceError:
    with pytest.raises(ServiceError) as error:
        picking.mark_found(line=picking.line_for_barcode(run=run, barcode=barcode))
    return error.value


def nothing_changed(request, listed, sibling, sibling_status=CopyStatus.ON_SHELF):
    request.refresh_from_db()
    listed.refresh_from_db()
    sibling.refresh_from_db()
    line = PickLine.objects.get(request=request)
    assert (request.status, request.copy_id) == (Status.PLACED, listed.pk)
    assert (listed.status, sibling.status) == (CopyStatus.SET_ASIDE, sibling_status)
    assert (line.status, line.copy_id) == (LineStatus.PENDING, listed.pk)


# The copy beside the listed one serves the request ------------------------------------------


def test_the_copy_beside_the_listed_one_serves_the_request(branch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    line = picking.line_for_barcode(run=run, barcode=f" {sibling.barcode} ")
    assert line.request_id == request.pk and line.in_hand == sibling
    served = picking.mark_found(line=line)
    assert served.pk == request.pk and line.in_place_of == listed and line.copy == sibling
    request.refresh_from_db()
    listed.refresh_from_db()
    sibling.refresh_from_db()
    assert (request.status, request.copy_id, request.bag.label) == (Status.READY, sibling.pk, "M001")
    assert sibling.status == CopyStatus.HOLD_SHELF
    assert listed.status == CopyStatus.ON_SHELF  # back on its shelf, for anyone
    line = PickLine.objects.get(pk=line.pk)
    assert (line.status, line.copy_id) == (LineStatus.FOUND, sibling.pk)
    # The request's history says it moved to the copy found, then into the bag.
    events = list(RequestEvent.objects.filter(request=request).order_by("pk"))
    assert [(e.reason, e.copy_id) for e in events[-2:]] == [("retarget", sibling.pk), ("found", sibling.pk)]
    assert listed.barcode in events[-2].note


def test_another_copy_for_a_patron_collecting_elsewhere_leaves_in_the_van(branch, other_branch):
    record = make_record(copies=[branch, branch])
    request = place(make_patron(other_branch, card="20690012"), record, other_branch)
    run = picking.build_run(branch=branch, kind="late")
    sibling = record.copies.exclude(pk=request.copy_id).get()
    picking.mark_found(line=picking.line_for_barcode(run=run, barcode=sibling.barcode))
    request.refresh_from_db()
    assert (request.status, request.copy_id) == (Status.PLACED, sibling.pk)
    assert Copy.objects.get(pk=sibling.pk).status == CopyStatus.IN_TRANSIT


def test_the_page_says_another_copy_was_taken_and_which_bag(client, branch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    client.force_login(staff("rayon", Role.PICKER, branch))
    response = scan(client, run, sibling.barcode, follow=True)
    [message] = [str(m) for m in response.context["messages"]]
    # The picker is told not to look for the listed copy, and where this one goes.
    assert listed.barcode in message and "M001" in message and "Classic standards" in message
    assert Request.objects.get(pk=request.pk).copy_id == sibling.pk


def test_the_json_scan_answers_a_success_naming_the_listed_copy(client, branch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    client.force_login(staff("rayon", Role.PICKER, branch))
    answer = scan_json(client, run, sibling.barcode)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["ok"], body["level"], body["left"]) == (True, "success", 0)
    assert body["line"] == run.lines.get(request=request).pk
    assert listed.barcode in body["message"] and "M001" in body["message"]


def test_scanning_the_copy_taken_again_says_which_bag_it_went_into(branch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    picking.mark_found(line=picking.line_for_barcode(run=run, barcode=sibling.barcode))
    assert refused(run, sibling.barcode).code == "already_found"
    # The listed copy is nobody's now: it is on no list.
    assert refused(run, listed.barcode).code == "not_on_this_list"


def test_the_listed_copy_goes_to_the_next_patron_waiting_and_onto_the_list(client, branch):
    record = make_record(title="Blue train", copies=[branch, branch])
    first = place(make_patron(branch, card="20690013"), record, branch)
    sibling = record.copies.exclude(pk=first.copy_id).get()
    Copy.objects.filter(pk=sibling.pk).update(status=CopyStatus.ON_LOAN)
    waiting = place(make_patron(branch, card="20690014", last_name="Durand"), record, branch)
    assert waiting.status == Status.WAITING
    # Back on the shelf without a return (an import): the waiting sweep has not run yet.
    Copy.objects.filter(pk=sibling.pk).update(status=CopyStatus.ON_SHELF)
    run = picking.build_run(branch=branch, kind="late")
    client.force_login(staff("rayon", Role.PICKER, branch))
    body = scan_json(client, run, sibling.barcode).json()
    assert body["ok"] and body["left"] == 1, body
    waiting.refresh_from_db()
    assert (waiting.status, waiting.copy_id) == (Status.PLACED, first.copy_id)
    assert Copy.objects.get(pk=first.copy_id).status == CopyStatus.SET_ASIDE
    assert run.lines.get(request=waiting).status == LineStatus.PENDING
    # The picker, at that shelf, is told the listed copy is now on the list for someone.
    assert body["message"].count(first.copy.barcode) == 2


def test_of_two_patrons_for_a_title_the_one_whose_copy_stands_beside_it_is_served(branch):
    department = make_department(branch)
    jazz, novels = make_location(department, code="jazz", name="Jazz"), make_location(department)
    record = make_record(copies=[branch, branch, branch])
    first, second, sibling = record.copies.order_by("pk")
    Copy.objects.filter(pk=first.pk).update(location=novels, department=department)
    for copy in (second, sibling):
        copy.location, copy.department, copy.call_number = jazz, department, "781.65 COL"
        copy.save()
    one = place(make_patron(branch, card="20690015"), record, branch)
    other = place(make_patron(branch, card="20690016"), record, branch)
    assert (one.copy_id, other.copy_id) == (first.pk, second.pk)
    run = picking.build_run(branch=branch, kind="late")
    line = picking.line_for_barcode(run=run, barcode=sibling.barcode)
    assert line.request_id == other.pk  # the copy listed on the same shelf, not the first line


# Refused in words, nothing changed ------------------------------------------------------------


def test_another_librarys_copy_is_refused_naming_its_library(client, branch, other_branch):
    run, request, listed, elsewhere = a_title_on_the_list(branch, copies=[branch, other_branch])
    error = refused(run, elsewhere.barcode)
    assert error.code == "in_hand_other_branch"
    assert "Croix-Rousse" in error.message and listed.barcode in error.message
    nothing_changed(request, listed, elsewhere)
    client.force_login(staff("rayon", Role.PICKER, branch))
    answer = scan_json(client, run, elsewhere.barcode)
    assert answer.status_code == 409
    assert (answer.json()["ok"], answer.json()["level"]) == (False, "error")
    assert "Croix-Rousse" in answer.json()["message"]


def test_a_copy_held_for_another_request_is_refused(branch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    # Set aside after the list was made: on no list yet.
    other = place(make_patron(branch, card="20690017"), listed.record, branch)
    assert other.copy_id == sibling.pk
    error = refused(run, sibling.barcode)
    assert error.code == "in_hand_held" and sibling.barcode in error.message
    nothing_changed(request, listed, sibling, sibling_status=CopyStatus.SET_ASIDE)
    assert Request.objects.get(pk=other.pk).copy_id == sibling.pk


def test_a_kind_of_document_the_request_may_not_take_is_refused(branch):
    RequestPolicy.objects.create(requestable_types=["book"])
    run, request, listed, sibling = a_title_on_the_list(branch)
    Copy.objects.filter(pk=sibling.pk).update(doc_type="dvd")
    error = refused(run, sibling.barcode)
    assert error.code == "in_hand_wrong_type" and "DVD" in error.message
    nothing_changed(request, listed, sibling)


def test_a_kind_whose_limit_the_patron_reached_is_refused(branch):
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    run, request, listed, sibling = a_title_on_the_list(branch)
    place(request.patron, make_record(title="Un film", doc_type="dvd", copies=[branch]), branch)
    Copy.objects.filter(pk=sibling.pk).update(doc_type="dvd")
    assert refused(run, sibling.barcode).code == "in_hand_wrong_type"
    nothing_changed(request, listed, sibling)


def test_a_copy_recorded_on_loan_is_refused_saying_so(branch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    Copy.objects.filter(pk=sibling.pk).update(status=CopyStatus.ON_LOAN)
    error = refused(run, sibling.barcode)
    assert error.code == "in_hand_not_on_shelf"
    nothing_changed(request, listed, sibling, sibling_status=CopyStatus.ON_LOAN)


def test_a_copy_taken_between_the_scan_and_the_marking_is_refused_and_nothing_moves(branch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    line = picking.line_for_barcode(run=run, barcode=sibling.barcode)
    other = place(make_patron(branch, card="20690018"), listed.record, branch)  # meanwhile
    with pytest.raises(ServiceError) as error:
        picking.mark_found(line=line)
    assert error.value.code == "in_hand_held"
    nothing_changed(request, listed, sibling, sibling_status=CopyStatus.SET_ASIDE)
    assert Request.objects.get(pk=other.pk).copy_id == sibling.pk


def test_a_title_not_on_the_list_is_still_not_on_this_list(branch):
    run, request, listed, sibling = a_title_on_the_list(branch)
    stranger = make_record(title="Autre", copies=[branch]).copies.get()
    assert refused(run, stranger.barcode).code == "not_on_this_list"


# Two at once (PostgreSQL) ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_picker_saying_not_found_for_another_copy_of_the_title_does_not_deadlock(
    postgres, branch, monkeypatch
):
    """One picker marks copy 2 not found: that locks the title's record, and its request
    moves to copy 3, the only one left on the shelf. Meanwhile another scans copy 3 for
    the request of copy 1. Had the scan locked copy 3 before the record, each would wait
    for the other (the first for copy 3, the second for the record)."""
    from tests.test_place_requests_concurrency import run_side_by_side

    record = make_record(copies=[branch, branch, branch])
    first = place(make_patron(branch, card="20690021"), record, branch)
    second = place(make_patron(branch, card="20690022"), record, branch)
    third = record.copies.exclude(pk__in=[first.copy_id, second.copy_id]).get()
    run = picking.build_run(branch=branch, kind="late")
    not_found_line = run.lines.get(request=second)
    record_held, scanner_done, scanner_pid = threading.Event(), threading.Event(), []
    real_retarget = picking.holds.retarget_or_close

    def retarget_once_the_scanner_waits(**kwargs):
        record_held.set()  # the copy is marked missing: the record is locked
        wait_until_blocked(scanner_pid, unless_done=scanner_done.is_set)
        return real_retarget(**kwargs)

    monkeypatch.setattr(picking.holds, "retarget_or_close", retarget_once_the_scanner_waits)

    def picker_not_finding():
        picking.mark_not_found(line=not_found_line, cause="shelf")

    def picker_scanning():
        scanner_pid.append(backend_pid())
        try:
            assert record_held.wait(10)
            picking.mark_found(line=picking.line_for_barcode(run=run, barcode=third.barcode))
        finally:
            scanner_done.set()

    errors = run_side_by_side(picker_not_finding, picker_scanning)
    # The scan waited for the record, then found copy 3 taken: refused in words.
    assert [getattr(e, "code", repr(e)) for e in errors] == ["in_hand_held"]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (second.status, second.copy_id) == (Status.PLACED, third.pk)
    assert (first.status, first.copy_id) == (Status.PLACED, first.copy_id)
    assert run.lines.get(request=first).status == LineStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_two_pickers_scanning_two_other_copies_for_one_line_serve_it_once(postgres, branch, monkeypatch):
    """Copies 2 and 3 stand beside copy 1, listed. Two pickers scan one each at the same
    moment: one takes the line, the other is told the request changed (its copy stays on
    the shelf), and copy 1 is on the shelf."""
    from tests.test_place_requests_concurrency import run_side_by_side

    record = make_record(copies=[branch, branch, branch])
    request = place(make_patron(branch, card="20690023"), record, branch)
    listed = request.copy_id
    run = picking.build_run(branch=branch, kind="late")
    two, three = record.copies.exclude(pk=request.copy_id).order_by("pk")
    first_in, second_pid, second_done = threading.Event(), [], threading.Event()
    real_release = picking.holds.release_copy

    def release_once_the_other_waits(**kwargs):
        if threading.current_thread().name == "first":
            first_in.set()
            wait_until_blocked(second_pid, unless_done=second_done.is_set)
        return real_release(**kwargs)

    monkeypatch.setattr(picking.holds, "release_copy", release_once_the_other_waits)

    def first():
        threading.current_thread().name = "first"
        picking.mark_found(line=picking.line_for_barcode(run=run, barcode=two.barcode))

    def second():
        second_pid.append(backend_pid())
        try:
            assert first_in.wait(10)
            picking.mark_found(line=picking.line_for_barcode(run=run, barcode=three.barcode))
        finally:
            second_done.set()

    errors = run_side_by_side(first, second)
    assert [getattr(e, "code", repr(e)) for e in errors] == ["in_hand_changed"]
    request.refresh_from_db()
    assert (request.status, request.copy_id) == (Status.READY, two.pk)
    statuses = dict(Copy.objects.filter(record=record).values_list("pk", "status"))
    assert statuses == {
        listed: CopyStatus.ON_SHELF,
        two.pk: CopyStatus.HOLD_SHELF,
        three.pk: CopyStatus.ON_SHELF,
    }
