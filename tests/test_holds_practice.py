"""Request rules a circulation librarian expects, as Koha and Evergreen keep them: a
title's request outlives a missing copy, a closed day never eats a bag's last day, a
blocked card takes no copy from the queue, nothing is asked twice."""

import datetime

import pytest
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.errors import ServiceError
from emporter.holds.models import RequestPolicy, Status
from emporter.holds.policy import Policy
from emporter.holds.services import cancel_request, expire_overdue, place_request, release_copy, serve_waiting
from emporter.network.calendar import nth_open_day
from emporter.network.models import ClosedDay, ServiceMode
from emporter.notices.compose import compose_all
from emporter.notices.models import Notice
from emporter.patrons.models import Patron
from emporter.picking import services as picking
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record


def not_found_this_morning(branch):
    line = picking.build_run(branch=branch, kind="late").lines.get()
    return picking.mark_not_found(line=line, cause="shelf")


# A copy not found, another out: the request waits for it ------------------------------


def test_not_found_with_another_copy_on_loan_waits_for_it_and_gets_it_back(patron, branch):
    record = make_record(copies=[branch, (branch, CopyStatus.ON_LOAN)])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    not_found_this_morning(branch)
    request.refresh_from_db()
    assert (request.status, request.copy_id, request.placed_at) == (Status.WAITING, None, None)
    compose_all()
    assert not Notice.objects.filter(kind="not_found").exists()  # nothing is over: nothing told
    on_loan = record.copies.get(status=CopyStatus.ON_LOAN)
    desk.check_in(barcode=on_loan.barcode, branch=branch)  # it comes back: straight to them
    request.refresh_from_db()
    assert (request.status, request.copy_id) == (Status.READY, on_loan.pk)


def test_not_found_with_another_copy_at_a_closed_library_waits(patron, branch):
    closed = make_branch(code="CLO", name="Fermée", mode=ServiceMode.CLOSED)
    record = make_record(copies=[branch, closed])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    not_found_this_morning(branch)
    request.refresh_from_db()
    assert request.status == Status.WAITING


@pytest.mark.parametrize("other", [CopyStatus.MISSING, CopyStatus.WITHDRAWN, None])
def test_not_found_with_nothing_else_to_come_back_is_told(patron, branch, other):
    # Another copy missing too would never move a waiting list: the patron is told.
    record = make_record(copies=[branch] + ([(branch, other)] if other else []))
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    not_found_this_morning(branch)
    request.refresh_from_db()
    assert request.status == Status.NOT_FOUND
    compose_all()
    assert Notice.objects.filter(patron=patron, kind="not_found").exists()


def test_not_found_where_the_rules_keep_no_waiting_list_is_told(patron, branch):
    RequestPolicy.objects.create(allow_waiting_list=False)
    record = make_record(copies=[branch, (branch, CopyStatus.ON_LOAN)])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    not_found_this_morning(branch)
    request.refresh_from_db()
    assert request.status == Status.NOT_FOUND


# A closed last day is given back ------------------------------------------------------


def test_a_closed_day_declared_on_a_bags_last_day_holds_it_to_the_next_open_day(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    deadline = request.hold_until
    ClosedDay.objects.create(branch=branch, date=deadline, reason="grève")
    next_open = nth_open_day(branch, deadline + datetime.timedelta(days=1), 1)
    assert expire_overdue(today=deadline + datetime.timedelta(days=1)) == 0
    request.refresh_from_db()
    assert (request.status, request.hold_until) == (Status.READY, next_open)
    assert request.bag.hold_until == next_open
    assert expire_overdue(today=next_open + datetime.timedelta(days=1)) == 1  # then it is over


def test_a_closing_on_a_bags_last_day_moves_it_as_soon_as_it_is_known(patron, branch):
    # A strike declared the eve: the reminder, the account and the door must show the
    # next open day before the closed one comes, not once it has passed.
    (request,) = make_ready_requests(patron, branch, ["Un"])
    deadline = request.hold_until
    ClosedDay.objects.create(branch=branch, date=deadline, reason="grève")
    expire_overdue(today=deadline - datetime.timedelta(days=1))
    request.refresh_from_db()
    assert request.bag.hold_until == request.hold_until == nth_open_day(branch, deadline, 1) > deadline


def test_a_bag_whose_last_day_was_open_expires_as_before(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    assert expire_overdue(today=request.hold_until + datetime.timedelta(days=1)) == 1


def ready_at_a_library_without_hours(patron, branch):
    """A request collected at a library whose hours are not entered, pulled and received."""
    bare = make_branch(code="NEW", name="Nouvelle", weekdays=[])
    record = make_record(copies=[branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=bare)
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get())
    picking.receive(branch=bare, barcode=record.copies.get().barcode)
    request.refresh_from_db()
    return request


def test_a_library_without_opening_hours_holds_bags_in_calendar_days(patron, branch):
    # Switched to click and collect before its hours were entered: the picker's "found"
    # and the copy's arrival there must not fail with the copy in hand.
    request = ready_at_a_library_without_hours(patron, branch)
    days = Policy().hold_days
    assert request.status == Status.READY
    assert request.hold_until == timezone.localdate() + datetime.timedelta(days=days)


# A blocked card takes nothing from the queue -------------------------------------------


BLOCKS = [{"blocked_reason": "Documents perdus"}, {"card_expires": datetime.date(2020, 1, 1)}]


@pytest.mark.parametrize("block", BLOCKS)
def test_a_returned_copy_passes_over_a_blocked_patrons_waiting_request(patron, branch, block):
    other = make_patron(branch, card="30000001")
    record = make_record(copies=[(branch, CopyStatus.ON_LOAN)])
    first, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    second, _ = place_request(patron=other, record_id=record.pk, pickup_branch=branch)
    Patron.objects.filter(pk=patron.pk).update(**block)
    desk.check_in(barcode=record.copies.get().barcode, branch=branch)
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, second.status) == (Status.WAITING, Status.READY)  # first keeps its place


def test_the_waiting_sweep_serves_a_blocked_card_once_it_is_in_order_again(patron, branch):
    record = make_record(copies=[(branch, CopyStatus.ON_LOAN)])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    Patron.objects.filter(pk=patron.pk).update(blocked_reason="Documents perdus")
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)  # back by an import
    assert serve_waiting() == 0
    Patron.objects.filter(pk=patron.pk).update(blocked_reason="")
    assert serve_waiting() == 1
    request.refresh_from_db()
    assert request.status == Status.PLACED


# Nothing asked twice -----------------------------------------------------------------


def test_a_document_the_patron_has_at_home_is_not_requested_again(patron, branch):
    record = make_record(copies=[branch, branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get())
    desk.hand_over(patron=patron, branch=branch)
    with pytest.raises(ServiceError) as refused:
        place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert refused.value.code == "already_on_loan"
    loan = Loan.objects.get()
    desk.check_in(barcode=loan.copy.barcode, branch=branch)  # brought back: may ask again
    assert place_request(patron=patron, record_id=record.pk, pickup_branch=branch)[0].status == Status.PLACED


def test_a_bag_at_a_library_without_hours_still_expires(patron, branch):
    # No open day to hold it to: sparing it "to the next open day" kept it for good.
    request = ready_at_a_library_without_hours(patron, branch)
    assert expire_overdue(today=request.hold_until + datetime.timedelta(days=1)) == 1


def test_not_found_with_own_copies_only_ignores_copies_elsewhere(patron, branch, other_branch):
    # The copy on loan at another library could never serve it: the patron is told.
    RequestPolicy.objects.create(allow_other_branches=False)
    record = make_record(copies=[branch, (other_branch, CopyStatus.ON_LOAN)])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    not_found_this_morning(branch)
    request.refresh_from_db()
    assert request.status == Status.NOT_FOUND


def test_a_copy_freed_while_a_request_was_placed_goes_to_it_once_committed(
    patron, branch, monkeypatch, django_capture_on_commit_callbacks
):
    # The placement saw the copy still set aside (the cancellation freeing it committed
    # meanwhile, and found nobody waiting): it waited for the sweep, up to five minutes.
    from emporter.holds import allocation

    record = make_record(copies=[branch])
    real, seen = allocation.take_copy, []
    monkeypatch.setattr(
        allocation, "take_copy", lambda **kw: None if not seen and not seen.append(1) else real(**kw)
    )
    with django_capture_on_commit_callbacks(execute=True):
        request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    request.refresh_from_db()
    assert (request.status, request.copy_id) == (Status.PLACED, record.copies.get().pk)


# The copy's type, not only the record's -------------------------------------------------


def mixed_record(branch, *types, status=CopyStatus.ON_SHELF):
    """A record typed "book" whose copies are of ``types`` (a book with its DVD)."""
    record = make_record(title="Livre et DVD", copies=[(branch, status)] * len(types))
    for copy, doc_type in zip(record.copies.order_by("pk"), types, strict=True):
        Copy.objects.filter(pk=copy.pk).update(doc_type=doc_type)
    return record


def test_a_copy_of_a_type_not_requested_is_not_set_aside_through_a_book_record(patron, branch):
    RequestPolicy.objects.create(requestable_types=["book"])
    with pytest.raises(ServiceError) as refused:
        place_request(patron=patron, record_id=mixed_record(branch, "dvd").pk, pickup_branch=branch)
    assert refused.value.code == "type_not_requestable"


def test_the_dvd_limit_counts_dvd_copies_whatever_their_record_says(patron, branch):
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    first, _ = place_request(patron=patron, record_id=mixed_record(branch, "dvd").pk, pickup_branch=branch)
    assert first.doc_type == "dvd"  # what was set aside
    with pytest.raises(ServiceError) as refused:
        place_request(patron=patron, record_id=mixed_record(branch, "dvd").pk, pickup_branch=branch)
    assert refused.value.code == "type_limit_reached"
    # A record with a book copy too: the book is set aside instead.
    book_and_dvd = mixed_record(branch, "dvd", "book")
    request, _ = place_request(patron=patron, record_id=book_and_dvd.pk, pickup_branch=branch)
    assert (request.status, request.copy.doc_type, request.doc_type) == (Status.PLACED, "book", "book")


def test_the_basket_drops_a_title_the_patron_has_at_home_and_says_so(client, patron, branch):
    record = make_record(title="Déjà chez moi", copies=[branch, branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get())
    desk.hand_over(patron=patron, branch=branch)
    client.force_login(patron.user)
    client.post(f"/basket/add/{record.pk}/")
    page = client.get("/basket/")
    assert "Déjà chez moi" in page.text and "chez vous" in page.text  # said, in French
    assert "Déjà chez moi" not in client.get("/basket/").text  # and out of the basket


def test_a_new_bag_does_not_take_the_label_of_an_expired_one_still_on_the_shelf(patron, branch):
    # The expired bag's documents wait on the hold shelf for staff to take them out:
    # a new bag labelled like it would be two "M001" side by side.
    (expired,) = make_ready_requests(patron, branch, ["Un"])
    expire_overdue(today=expired.hold_until + datetime.timedelta(days=1))
    expired.refresh_from_db()
    assert expired.copy.status == CopyStatus.HOLD_SHELF
    other = make_patron(branch, card="30000009", last_name="Moreau")
    (ready,) = make_ready_requests(other, branch, ["Deux"])
    assert ready.bag.label != expired.bag.label and ready.bag.label.startswith("M")


def test_nor_that_of_an_expired_bag_whose_copy_waits_for_the_van_home(patron, branch, other_branch):
    # Another library's copy: expired, it is "in transit home" but still in the bag here.
    record = make_record(title="Venu d'ailleurs", copies=[other_branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    picking.mark_found(line=picking.build_run(branch=other_branch, kind="late").lines.get())
    picking.receive(branch=branch, barcode=record.copies.get().barcode)
    request.refresh_from_db()
    expire_overdue(today=request.hold_until + datetime.timedelta(days=1))
    assert Copy.objects.get(record=record).status == CopyStatus.IN_TRANSIT
    other = make_patron(branch, card="30000009", last_name="Moreau")
    (ready,) = make_ready_requests(other, branch, ["Deux"])
    assert ready.bag.label != request.bag.label


def test_a_dvd_on_loan_is_not_waited_for_past_the_dvd_limit(patron, branch):
    # Refused at once: waiting, it would be set aside when it came back, past the limit.
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    place_request(patron=patron, record_id=mixed_record(branch, "dvd").pk, pickup_branch=branch)
    out = mixed_record(branch, "dvd", status=CopyStatus.ON_LOAN)
    with pytest.raises(ServiceError) as refused:
        place_request(patron=patron, record_id=out.pk, pickup_branch=branch)
    assert refused.value.code == "type_limit_reached"


def test_no_waiting_list_behind_copies_of_a_type_not_requested(patron, branch):
    RequestPolicy.objects.create(requestable_types=["book"])
    out = mixed_record(branch, "dvd", status=CopyStatus.ON_LOAN)
    with pytest.raises(ServiceError) as refused:
        place_request(patron=patron, record_id=out.pk, pickup_branch=branch)
    assert refused.value.code == "type_not_requestable"


def test_a_waiting_request_served_by_a_dvd_counts_as_a_dvd(patron, branch):
    record = mixed_record(branch, "dvd", status=CopyStatus.ON_LOAN)
    waiting, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert (waiting.status, waiting.doc_type) == (Status.WAITING, "book")  # the record's, meanwhile
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)  # back by an import
    assert serve_waiting(records=[record.pk]) == 1
    waiting.refresh_from_db()
    assert waiting.doc_type == "dvd"


def test_a_record_typed_dvd_whose_copy_is_a_book_is_lent_as_a_book(patron, branch):
    # The DVD limit reached: the record's own type no longer refuses a book copy.
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    place_request(patron=patron, record_id=mixed_record(branch, "dvd").pk, pickup_branch=branch)
    misfiled = mixed_record(branch, "book")
    misfiled.doc_type = "dvd"
    misfiled.save(update_fields=["doc_type"])
    request, _ = place_request(patron=patron, record_id=misfiled.pk, pickup_branch=branch)
    assert (request.status, request.doc_type) == (Status.PLACED, "book")


def test_a_record_typed_dvd_whose_copies_are_books_may_be_requested_where_dvds_are_not(patron, branch):
    RequestPolicy.objects.create(requestable_types=["book"])
    misfiled = mixed_record(branch, "book", status=CopyStatus.ON_LOAN)
    misfiled.doc_type = "dvd"
    misfiled.save(update_fields=["doc_type"])
    request, _ = place_request(patron=patron, record_id=misfiled.pk, pickup_branch=branch)
    # Waiting for the book: it counts as a book meanwhile, not as the record's DVD.
    assert (request.status, request.doc_type) == (Status.WAITING, "book")


def test_a_dvd_coming_back_passes_over_a_patron_who_has_since_reached_the_dvd_limit(patron, branch):
    # A title lent as a book or as a DVD, both out: the request waits, counted as a book.
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    out = mixed_record(branch, "book", "dvd", status=CopyStatus.ON_LOAN)
    waiting, _ = place_request(patron=patron, record_id=out.pk, pickup_branch=branch)
    assert (waiting.status, waiting.doc_type) == (Status.WAITING, "book")
    # Meanwhile the patron takes another DVD off a shelf: at the limit.
    place_request(patron=patron, record_id=mixed_record(branch, "dvd").pk, pickup_branch=branch)
    other = make_patron(branch, card="30000009", last_name="Moreau")
    behind, _ = place_request(patron=other, record_id=out.pk, pickup_branch=branch)
    copy = out.copies.get(doc_type="dvd")
    released = release_copy(copy=copy)
    waiting.refresh_from_db()
    behind.refresh_from_db()
    assert released == behind and behind.status == Status.PLACED
    assert (waiting.status, waiting.copy_id) == (Status.WAITING, None)  # keeps its place


def test_the_waiting_sweep_does_not_serve_a_dvd_past_the_limit_either(patron, branch):
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    out = mixed_record(branch, "book", "dvd", status=CopyStatus.ON_LOAN)
    waiting, _ = place_request(patron=patron, record_id=out.pk, pickup_branch=branch)
    first, _ = place_request(patron=patron, record_id=mixed_record(branch, "dvd").pk, pickup_branch=branch)
    Copy.objects.filter(record=out, doc_type="dvd").update(status=CopyStatus.ON_SHELF)  # back by an import
    assert serve_waiting(records=[out.pk]) == 0
    # Once the other DVD is no longer requested, the limit leaves room: served.
    cancel_request(request=first)
    assert serve_waiting(records=[out.pk]) == 1
    waiting.refresh_from_db()
    assert (waiting.status, waiting.doc_type) == (Status.PLACED, "dvd")
