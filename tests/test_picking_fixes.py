"""The morning pull after a code review: lines left pending roll over, every branch that
lends copies gets a list, a request moved back to a copy is pulled again, a copy not
found on a cancelled request's line does not strand its new holder, and pickers lock
only what they mean to."""

import datetime
import threading

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation

from emporter.catalogue.models import Copy, CopyStatus
from emporter.errors import ServiceError
from emporter.holds.continuity import set_mode
from emporter.holds.models import Request, RequestPolicy, Status
from emporter.holds.services import cancel_request, place_request
from emporter.network.models import Branch, ServiceMode
from emporter.picking import selectors
from emporter.picking import services as picking
from emporter.picking.models import LineStatus, PickLine, PickRun
from emporter.picking.tasks import branches_due, enqueue_due_runs
from tests.conftest import backend_pid, make_branch, make_patron, make_record, wait_until_blocked
from tests.test_picking_pages import make_picker

TZ = timezone.get_current_timezone()
FRIDAY = datetime.date(2026, 11, 27)
SATURDAY = FRIDAY + datetime.timedelta(days=1)


def at(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=TZ)


def place(patron, record, pickup, when=None):
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=pickup)
    Request.objects.filter(pk=request.pk).update(placed_at=when or at(FRIDAY, 7))
    request.refresh_from_db()
    return request


@pytest.fixture(autouse=True)
def default_language_afterwards():
    # A page asked for in English leaves English active in this thread for later tests.
    yield
    translation.deactivate()


def english_url(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def pending_lines(request):
    return list(PickLine.objects.filter(request=request, status=LineStatus.PENDING))


# A. A line left pending rolls over to the next morning run.


def test_a_line_left_pending_is_carried_into_the_next_morning_run(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    friday = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    old = friday.lines.get()
    saturday = picking.build_run(branch=branch, now=at(SATURDAY, 9))
    new = saturday.lines.get()
    old.refresh_from_db()
    assert (new.request, new.copy, new.status) == (request, request.copy, LineStatus.PENDING)
    assert old.status == LineStatus.CARRIED and old.marked_at is not None
    assert pending_lines(request) == [new]
    # The old list no longer counts it as left to pull.
    (progress,) = selectors.with_progress([friday])
    assert (progress.pending, progress.total) == (0, 1)


def test_the_old_list_says_where_a_carried_line_went(client, patron, branch):
    place(patron, make_record(title="Reporté", copies=[branch]), branch)
    friday = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    picking.build_run(branch=branch, now=at(SATURDAY, 9))
    client.force_login(make_picker(branch))
    page = client.get(english_url("picking:pick", friday.pk))
    text = page.content.decode()
    assert "0 / 1 left" in text
    assert "Moved to a later list" in text


def test_scanning_a_carried_copy_on_the_old_list_marks_it_found(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    friday = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    saturday = picking.build_run(branch=branch, now=at(SATURDAY, 9))
    line = picking.line_for_barcode(run=friday, barcode=request.copy.barcode)
    assert line == saturday.lines.get()
    picking.mark_found(line=line)
    request.refresh_from_db()
    assert request.status == Status.READY


def test_a_late_run_does_not_take_lines_still_pending_on_an_earlier_list(patron, branch):
    place(patron, make_record(copies=[branch]), branch)
    picking.build_run(branch=branch, now=at(FRIDAY, 9))
    late = picking.build_run(branch=branch, kind=PickRun.Kind.LATE, now=at(SATURDAY, 14))
    assert not late.lines.exists()
    assert PickLine.objects.filter(status=LineStatus.PENDING).count() == 1


def test_a_cancelled_requests_line_left_pending_is_closed_at_the_next_morning(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    old = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    cancel_request(request=request)
    assert not picking.build_run(branch=branch, now=at(SATURDAY, 9)).lines.exists()
    old.refresh_from_db()
    assert old.status == LineStatus.CANCELLED


def test_a_line_for_a_copy_the_request_has_left_is_closed_when_it_joins_a_new_list(patron, branch):
    record = make_record(copies=[branch, branch])
    first, second = record.copies.order_by("pk")
    request = place(patron, record, branch)
    old = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    # Moved to the other copy by a path that did not mark the line (an edit in the admin).
    Copy.objects.filter(pk=first.pk).update(status=CopyStatus.ON_SHELF)
    Copy.objects.filter(pk=second.pk).update(status=CopyStatus.SET_ASIDE)
    Request.objects.filter(pk=request.pk).update(copy=second)
    new = picking.build_run(branch=branch, kind=PickRun.Kind.LATE, now=timezone.now()).lines.get()
    old.refresh_from_db()
    assert (new.copy, old.status) == (second, LineStatus.CANCELLED)


def test_the_database_refuses_two_pending_lines_for_one_request(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    late = PickRun.objects.create(branch=branch, run_date=FRIDAY, kind="late", cutoff=at(FRIDAY, 12))
    with pytest.raises(IntegrityError), transaction.atomic():
        PickLine.objects.create(run=late, request=request, copy=request.copy)
    assert run.lines.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_late_runs_built_at_once_share_the_requests_without_an_error(postgres, monkeypatch):
    """Both runs want the same request; the database lets one line in, and the second
    build starts again without it instead of failing (two late runs that day already)."""
    from tests.test_place_requests_concurrency import run_side_by_side

    branch = make_branch()
    later = timezone.now() + datetime.timedelta(hours=1)
    request = place(make_patron(branch), make_record(copies=[branch]), branch, later)
    assert not picking.build_run(branch=branch, kind=PickRun.Kind.LATE).lines.exists()
    Request.objects.filter(pk=request.pk).update(placed_at=timezone.now() - datetime.timedelta(minutes=5))
    first_in, second_pid, runs = threading.Event(), [], {}
    real_add_lines = picking._add_lines

    def add_lines(run):
        added = real_add_lines(run)
        if threading.current_thread().name == "first":
            first_in.set()
            wait_until_blocked(second_pid)
        return added

    monkeypatch.setattr(picking, "_add_lines", add_lines)

    def first():
        runs["first"] = picking.build_run(branch=branch, kind=PickRun.Kind.LATE)

    def second():
        second_pid.append(backend_pid())
        assert first_in.wait(10)
        runs["second"] = picking.build_run(branch=branch, kind=PickRun.Kind.LATE)

    errors = run_side_by_side(named("first", first), named("second", second))
    assert errors == []
    assert runs["first"].lines.get().request == request
    assert not runs["second"].lines.exists()


def named(name, step):
    def run():
        threading.current_thread().name = name
        step()

    return run


# B. Every branch that lends copies is pulled; closed branches lend none.


def test_a_copy_at_a_branch_in_normal_service_is_pulled_there(db):
    pickup = make_branch(weekdays=range(7), pick_time=datetime.time(0, 0))
    normal = make_branch(
        code="SJE", name="Saint-Jean", mode=ServiceMode.OPEN, weekdays=range(7), pick_time=datetime.time(0, 0)
    )
    before_midnight = at(timezone.localdate(), 0) - datetime.timedelta(hours=1)
    request = place(make_patron(pickup), make_record(copies=[normal]), pickup, before_midnight)
    assert request.status == Status.PLACED and request.copy.branch == normal
    assert normal.pk in enqueue_due_runs()
    line = PickRun.objects.get(branch=normal).lines.get()
    assert line.request == request
    picking.mark_found(line=line)
    request.refresh_from_db()
    assert request.copy.status == CopyStatus.IN_TRANSIT


def test_a_closed_branch_gets_no_run(db):
    make_branch(code="GER", name="Gerland", mode=ServiceMode.CLOSED)
    normal = make_branch(code="SJE", name="Saint-Jean", mode=ServiceMode.OPEN)
    assert branches_due(at(FRIDAY, 9)) == [normal.pk]


def test_no_copy_is_taken_at_a_closed_branch_even_its_own(patron, branch):
    from emporter.holds import allocation, policy

    record = make_record(copies=[branch])
    branch.service_mode = ServiceMode.CLOSED
    branch.save()
    rules = policy.Policy(allow_other_branches=False)
    assert allocation.take_copy(record=record, pickup_branch=branch, policy=rules) is None


def test_a_branch_switched_to_closed_hands_its_requests_to_another_copy(patron, branch, other_branch):
    closing = make_branch(code="GER", name="Gerland")
    record = make_record(copies=[closing, other_branch])
    request = place(patron, record, branch)
    stranded = request.copy
    assert stranded.branch == closing
    old_line = picking.build_run(branch=closing, now=at(FRIDAY, 9)).lines.get()
    closing.service_mode = ServiceMode.CLOSED
    closing.save()
    assert picking.withdraw_closed_branches() == 1
    request.refresh_from_db()
    stranded.refresh_from_db()
    old_line.refresh_from_db()
    assert request.status == Status.PLACED and request.copy.branch == other_branch
    assert stranded.status == CopyStatus.ON_SHELF
    assert old_line.status == LineStatus.CANCELLED
    assert request.events.last().reason == "retarget"
    assert picking.withdraw_closed_branches() == 0


def test_a_request_whose_only_copy_is_behind_closed_doors_waits_again_with_its_place(patron, branch):
    closing = make_branch(code="GER", name="Gerland")
    request = place(patron, make_record(copies=[closing]), branch)
    copy = request.copy
    closing.service_mode = ServiceMode.CLOSED
    closing.save()
    assert picking.withdraw_closed_branches() == 1
    request.refresh_from_db()
    assert (request.status, request.copy) == (Status.WAITING, None)
    event = request.events.last()
    assert event.reason == "copy_library_closed"  # the patron is told: back on the waiting list
    assert "closed" in event.note or "fermée" in event.note
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_SHELF  # on its shelf, for whoever waits first once it reopens


# C. A request moved back to a copy it was pulled for once is pulled again.


def test_a_request_moved_back_to_a_copy_found_again_is_pulled_again(patron, branch):
    record = make_record(copies=[branch, branch])
    first, second = record.copies.order_by("pk")
    request = place(patron, record, branch)
    assert request.copy == first
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    picking.mark_not_found(line=run.lines.get())
    request.refresh_from_db()
    assert request.copy == second
    picking.put_back(copy=first)
    # The other copy went onto the same list; not found either, the request goes back
    # to the first copy, found again meanwhile, and onto the list once more.
    picking.mark_not_found(line=run.lines.get(status=LineStatus.PENDING))
    request.refresh_from_db()
    assert (request.status, request.copy) == (Status.PLACED, first)
    again = run.lines.get(status=LineStatus.PENDING)
    assert (again.request, again.copy, again.status) == (request, first, LineStatus.PENDING)


# D. Not found on the line of a request that no longer holds the copy.


def waiting_for(record, branch, card="10000002"):
    patron = make_patron(branch, card=card)
    waiting, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert waiting.status == Status.WAITING
    return waiting


def test_not_found_after_a_cancel_moves_the_copys_new_holder_to_another_copy(patron, branch, other_branch):
    RequestPolicy.objects.create(allow_waiting_list=True)
    record = make_record(copies=[branch])
    first = place(patron, record, branch)
    copy = first.copy
    stale = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    second = waiting_for(record, branch)
    cancel_request(request=first)
    second.refresh_from_db()
    assert (second.status, second.copy) == (Status.PLACED, copy)
    Copy.objects.create(record=record, barcode="SPARE", call_number="R", branch=other_branch, doc_type="book")

    assert picking.mark_not_found(line=stale, cause="shelf") is None
    copy.refresh_from_db()
    second.refresh_from_db()
    assert copy.status == CopyStatus.MISSING
    assert (second.status, second.copy.barcode) == (Status.PLACED, "SPARE")
    assert second.events.last().reason == "retarget"
    # Found again later, it goes to the next in line: nobody holds it twice.
    third = waiting_for(record, branch, card="10000003")
    picking.put_back(copy=copy)
    third.refresh_from_db()
    assert (third.status, third.copy) == (Status.READY, copy)  # in hand: into their bag


def cancelled_while_pulled(patron, branch):
    """Friday's line (now stale) for a request cancelled since; the copy went to the next
    in line, who has a line of their own on a late list."""
    RequestPolicy.objects.create(allow_waiting_list=True)
    record = make_record(copies=[branch])
    first = place(patron, record, branch)
    stale = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    second = waiting_for(record, branch)
    cancel_request(request=first)
    theirs = picking.build_run(branch=branch, kind=PickRun.Kind.LATE, now=timezone.now()).lines.get()
    return stale, second, theirs


def test_not_found_after_a_cancel_closes_the_new_holders_pending_line(patron, branch):
    stale, second, theirs = cancelled_while_pulled(patron, branch)
    assert theirs.request == second
    picking.mark_not_found(line=stale)
    theirs.refresh_from_db()
    second.refresh_from_db()
    assert theirs.status == LineStatus.CANCELLED
    assert second.status == Status.NOT_FOUND  # no other copy anywhere


def test_not_found_on_a_stale_line_leaves_a_copy_already_in_a_bag(patron, branch):
    stale, second, theirs = cancelled_while_pulled(patron, branch)
    picking.mark_found(line=theirs)
    picking.mark_not_found(line=stale)
    second.refresh_from_db()
    assert second.status == Status.READY
    assert second.copy.status == CopyStatus.HOLD_SHELF


def test_not_found_on_a_cancelled_requests_line_marks_a_free_copy_missing(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    line = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    cancel_request(request=request)
    picking.mark_not_found(line=line)
    request.copy.refresh_from_db()
    assert request.copy.status == CopyStatus.MISSING


# E. A picker locks the request, not the branch it is collected at.


@pytest.mark.django_db(transaction=True)
def test_two_pickers_on_copies_of_one_title_do_not_deadlock(postgres, monkeypatch):
    """One picker marks copy 1 not found (which locks the title's record) while another
    marks copy 2 found for another patron collecting at the same branch. Had each locked
    the pickup branch's row with the request (select_related without of=self), the
    first would wait for the branch the second holds, and the second for the record."""
    from emporter.holds.models import Bag
    from tests.test_place_requests_concurrency import run_side_by_side

    branch = make_branch()
    record = make_record(copies=[branch, branch])
    first = place(make_patron(branch), record, branch)
    second = place(make_patron(branch, card="10000002", last_name="Durand"), record, branch)
    Bag.objects.create(patron=second.patron, branch=branch, label="D001")  # no new label to choose
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    not_found, found = run.lines.get(request=first), run.lines.get(request=second)
    found_holds_request, not_found_done, not_found_pid = threading.Event(), threading.Event(), []
    real_make_ready = picking.holds.make_ready

    def make_ready_once_the_other_picker_is_in(**kwargs):
        found_holds_request.set()
        wait_until_blocked(not_found_pid, unless_done=not_found_done.is_set)
        return real_make_ready(**kwargs)

    monkeypatch.setattr("emporter.holds.bags.make_ready", make_ready_once_the_other_picker_is_in)

    def picker_finding():
        picking.mark_found(line=found)

    def picker_not_finding():
        not_found_pid.append(backend_pid())
        assert found_holds_request.wait(10)
        picking.mark_not_found(line=not_found)
        not_found_done.set()

    assert run_side_by_side(picker_finding, picker_not_finding) == []
    first.refresh_from_db()
    second.refresh_from_db()
    # The title's other copy is in the second patron's bag: the first waits for it.
    assert (first.status, second.status) == (Status.WAITING, Status.READY)


# F. Numbers in the address that str.isdigit() accepts but int() refuses.


@pytest.mark.parametrize("value", ["²", "٣", "１", "9" * 30])
def test_a_strange_department_shows_every_line_with_a_warning(client, patron, branch, value):
    place(patron, make_record(copies=[branch]), branch)
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    client.force_login(make_picker(branch))
    page = client.get(english_url("picking:pick", run.pk), {"department": value})
    assert page.status_code == 200
    assert page.context["department_id"] is None and page.context["total"] == 1
    assert "is not a department number" in page.content.decode()


@pytest.mark.parametrize("name", ["branch", "department"])
def test_a_strange_filter_on_the_missing_report_is_ignored_and_said(client, branch, name):
    client.force_login(make_picker(branch))
    page = client.get(english_url("picking:missing"), {name: "²"})
    assert page.status_code == 200
    assert "is not a" in page.content.decode()


def cancelled_on_the_list_with_a_next_patron(patron, branch, pickup=None):
    """``patron``'s request is on a list when they cancel it; its copy goes to Zola's,
    who was waiting for it (set aside, still on its shelf). (first, second, run)"""
    record = make_record(title="Convoité", copies=[branch])
    first, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    run = picking.build_run(branch=branch, kind="late")
    other = make_patron(branch, card="10000002", last_name="Zola")
    second, _ = place_request(patron=other, record_id=record.pk, pickup_branch=pickup or branch)
    cancel_request(request=first)
    return first, second, run


def test_a_copy_found_after_its_request_was_cancelled_serves_the_next_patron_at_once(patron, branch):
    """Cancelled while the picker walked, the copy went to the next patron waiting for
    it (set aside, still on its shelf): found, it goes into their bag, not back on the
    shelf to be pulled again tomorrow."""
    first, second, run = cancelled_on_the_list_with_a_next_patron(patron, branch)
    second.refresh_from_db()
    assert second.status == Status.PLACED and second.copy_id == first.copy_id

    served = picking.mark_found(line=picking.line_for_barcode(run=run, barcode=first.copy.barcode))

    second.refresh_from_db()
    assert served == second and second.status == Status.READY and second.bag.patron == second.patron != patron
    assert Copy.objects.get(pk=first.copy_id).status == CopyStatus.HOLD_SHELF
    # Scanned again: the line is now theirs, and says their bag.
    with pytest.raises(ServiceError) as error:
        picking.line_for_barcode(run=run, barcode=first.copy.barcode)
    assert error.value.code == "already_found" and second.bag.label in error.value.message


def test_a_line_whose_request_was_cancelled_closes_and_nobody_walks_to_that_shelf(patron, branch):
    kept, _ = place_request(
        patron=patron, record_id=make_record(title="Gardé", copies=[branch]).pk, pickup_branch=branch
    )
    gone, _ = place_request(
        patron=patron, record_id=make_record(title="Annulé", copies=[branch]).pk, pickup_branch=branch
    )
    run = picking.build_run(branch=branch, kind="late")
    cancel_request(request=gone)
    assert picking.settle_withdrawn_lines() == 1
    assert run.lines.get(request=gone).status == LineStatus.CANCELLED
    assert run.lines.get(request=kept).status == LineStatus.PENDING
    (progress,) = selectors.with_progress([run])
    assert progress.pending == 1
    assert picking.settle_withdrawn_lines() == 0  # done once


def test_a_line_whose_request_was_cancelled_goes_to_the_next_patron_of_its_copy(patron, branch):
    first, second, run = cancelled_on_the_list_with_a_next_patron(patron, branch)
    assert picking.settle_withdrawn_lines() == 1
    line = run.lines.get()
    assert (line.request, line.status) == (second, LineStatus.PENDING)
    assert selectors.run_lines(run)[0].bag_label.startswith("Z")


def test_a_withdrawn_line_is_not_handed_to_a_patron_whose_library_has_closed(patron, branch, other_branch):
    """Nothing is pulled for a closed library: the line closes instead."""
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    first, second, run = cancelled_on_the_list_with_a_next_patron(patron, branch, pickup=other_branch)
    set_mode(branches=Branch.objects.filter(pk=other_branch.pk), mode=ServiceMode.CLOSED, actor=None)
    assert picking.settle_withdrawn_lines() == 1
    line = run.lines.get()
    assert (line.request_id, line.status) == (first.pk, LineStatus.CANCELLED)


@pytest.mark.django_db(transaction=True)
def test_the_withdrawn_lines_sweep_gives_way_to_whoever_holds_a_line(postgres):
    """A list being built (or a picker) holding a line: the sweep stops waiting for it
    at once and leaves it to its next pass, instead of queueing behind or deadlocking."""
    from django.db import connection, connections

    branch = make_branch()
    patron = make_patron(branch)
    request = place(patron, make_record(copies=[branch]), branch)
    line = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    cancel_request(request=request)
    holding, release = threading.Event(), threading.Event()

    def builder_holding_the_line():
        try:
            with transaction.atomic():
                list(PickLine.objects.select_for_update().filter(pk=line.pk))
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    other = threading.Thread(target=builder_holding_the_line)
    other.start()
    try:
        assert holding.wait(10)
        assert picking.settle_withdrawn_lines() == 0
        assert PickLine.objects.get(pk=line.pk).status == LineStatus.PENDING
    finally:
        release.set()
        other.join(10)
    assert picking.settle_withdrawn_lines() == 1  # the next pass
    assert connection.vendor == "postgresql"
