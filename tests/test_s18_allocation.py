"""How requests get copies: the oldest request first, however a copy reaches a shelf
(an import, a reopening, a request moved off a closed library) and however many ahead
of it cannot take it; no request left waiting for good where the pickup library lends
only its own copies; one copy of a title per patron at the door."""

import datetime
import io

import pytest
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import selectors as desk_selectors
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.errors import ServiceError
from emporter.holds.models import Request, RequestEvent, RequestPolicy, Status
from emporter.holds.services import (
    change_pickup,
    close_waiting_without_copies,
    expire_overdue,
    place_request,
    place_requests,
    serve_waiting,
)
from emporter.network.models import Branch, ServiceMode
from emporter.picking import services as picking
from tests.conftest import make_branch, make_patron, make_record


@pytest.fixture
def own_only(db):
    """A library whose rules lend only its own copies."""
    vaise = make_branch(code="VAI", name="Vaise")
    RequestPolicy.objects.create(branch=vaise, allow_other_branches=False)
    return vaise


def _lent(copy, card):
    patron = make_patron(copy.branch, card=card)
    Loan.objects.create(copy=copy, patron=patron, branch=copy.branch, due_date="2026-12-30")


# -- 1. The queue first -------------------------------------------------------------------


def test_a_copy_an_import_adds_goes_to_the_oldest_waiting_request_not_a_newcomer(branch, tmp_path):
    from emporter.catalogue.csv_import import import_copies

    record = make_record(title="Prix Goncourt", copies=[(branch, CopyStatus.ON_LOAN)])
    waiting, _ = place_request(
        patron=make_patron(branch, card="30000001"), record_id=record.pk, pickup_branch=branch
    )
    assert waiting.status == Status.WAITING
    # The library catalogues a second copy (a copies CSV): the sweep is five minutes away.
    path = tmp_path / "copies.csv"
    path.write_text(
        "barcode;record;isbn;call_number;branch;department;location;doc_type;status\n"
        f"NEW001;{record.source_key};;R GON;{branch.code};;;;\n"
    )
    import_copies(path, stdout=io.StringIO())
    late, _ = place_request(
        patron=make_patron(branch, card="30000002"), record_id=record.pk, pickup_branch=branch
    )
    waiting.refresh_from_db()
    assert (waiting.status, late.status) == (Status.PLACED, Status.WAITING)
    assert waiting.copy.barcode == "NEW001"


def test_a_basket_serves_the_queue_first_too(branch):
    """The web basket reads once which of its titles have a queue and a copy on a shelf."""
    record = make_record(title="Prix Renaudot", copies=[(branch, CopyStatus.ON_LOAN)])
    other = make_record(title="Sans attente", copies=[branch])
    waiting, _ = place_request(
        patron=make_patron(branch, card="30000021"), record_id=record.pk, pickup_branch=branch
    )
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)  # the export says returned
    outcomes = place_requests(
        patron=make_patron(branch, card="30000022"), record_ids=[record.pk, other.pk], pickup_branch=branch
    )
    waiting.refresh_from_db()
    assert waiting.status == Status.PLACED
    assert [o.request.status for o in outcomes] == [Status.WAITING, Status.PLACED]


def test_a_newcomer_still_gets_a_copy_the_queue_leaves(branch):
    record = make_record(title="Deux", copies=[(branch, CopyStatus.ON_LOAN), (branch, CopyStatus.ON_LOAN)])
    waiting, _ = place_request(
        patron=make_patron(branch, card="30000011"), record_id=record.pk, pickup_branch=branch
    )
    # Both copies marked returned by the library system's export.
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)
    late, _ = place_request(
        patron=make_patron(branch, card="30000012"), record_id=record.pk, pickup_branch=branch
    )
    waiting.refresh_from_db()
    assert (waiting.status, late.status) == (Status.PLACED, Status.PLACED)
    assert waiting.copy_id != late.copy_id


def test_the_queue_keeps_its_copy_when_the_newcomer_is_refused(branch, other_branch):
    RequestPolicy.objects.create(branch=other_branch, allow_waiting_list=False)
    record = make_record(title="Sans liste", copies=[(branch, CopyStatus.ON_LOAN)])
    waiting, _ = place_request(
        patron=make_patron(branch, card="30000021"), record_id=record.pk, pickup_branch=branch
    )
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)
    with pytest.raises(ServiceError) as refused:  # no waiting list where the newcomer collects
        place_request(
            patron=make_patron(branch, card="30000022"), record_id=record.pk, pickup_branch=other_branch
        )
    assert refused.value.code == "nothing_available"
    waiting.refresh_from_db()
    assert waiting.status == Status.PLACED  # served, and not undone by the refusal


def _closed_pickup_waiting(branch, other_branch):
    """A title whose only copy is on loan; its first patron collects at ``other_branch``,
    which then closes; the copy comes back while it is closed and goes on its shelf."""
    record = make_record(title="Prix Renaudot", copies=[(branch, CopyStatus.ON_LOAN)])
    copy = record.copies.get()
    _lent(copy, "31000000")
    first, _ = place_request(
        patron=make_patron(branch, card="31000001"), record_id=record.pk, pickup_branch=other_branch
    )
    Branch.objects.filter(pk=other_branch.pk).update(service_mode=ServiceMode.CLOSED)
    desk.check_in(barcode=copy.barcode, branch=branch)
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_SHELF  # passed over while its library is closed
    return record, first


def test_a_reopening_serves_its_waiting_requests_from_copies_elsewhere_at_once(branch, other_branch):
    from emporter.holds.continuity import set_mode

    record, first = _closed_pickup_waiting(branch, other_branch)
    set_mode(branches=Branch.objects.filter(pk=other_branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)
    first.refresh_from_db()
    assert first.status == Status.PLACED  # not left for the sweep, nor for a newcomer
    late, _ = place_request(
        patron=make_patron(branch, card="31000002"), record_id=record.pk, pickup_branch=branch
    )
    assert late.status == Status.WAITING


def test_moving_a_waiting_request_off_a_closed_library_serves_it_at_once(
    branch, other_branch, django_capture_on_commit_callbacks
):
    record, first = _closed_pickup_waiting(branch, other_branch)
    with django_capture_on_commit_callbacks(execute=True):  # the move committed
        moved = change_pickup(request=first, branch=branch)
    first.refresh_from_db()
    assert moved.status == first.status == Status.PLACED
    late, _ = place_request(
        patron=make_patron(branch, card="31000002"), record_id=record.pk, pickup_branch=branch
    )
    assert late.status == Status.WAITING


# -- 2. However many ahead cannot take the copy ---------------------------------------


def _check_in_serves_past(ahead_branch, branch, *, cards_ahead, record):
    here_copy = record.copies.get(branch=branch)
    _lent(here_copy, "40000000")
    for card in cards_ahead:
        patron = make_patron(ahead_branch, card=card)
        assert (
            place_request(patron=patron, record_id=record.pk, pickup_branch=ahead_branch)[0].status
            == "waiting"
        )
    mine, _ = place_request(
        patron=make_patron(branch, card="40009999"), record_id=record.pk, pickup_branch=branch
    )
    assert mine.status == Status.WAITING
    returned = desk.check_in(barcode=here_copy.barcode, branch=branch)
    mine.refresh_from_db()
    return returned, mine


def test_a_return_serves_the_first_request_that_can_take_it_past_twenty_that_cannot(branch, own_only):
    record = make_record(
        title="Best-seller", copies=[(branch, CopyStatus.ON_LOAN), (own_only, CopyStatus.ON_LOAN)]
    )
    cards = [f"4000{n:04d}" for n in range(1, 21)]  # Vaise's, waiting for Vaise's own copy
    returned, mine = _check_in_serves_past(own_only, branch, cards_ahead=cards, record=record)
    assert returned.served == mine and mine.status == Status.READY


def test_a_return_passes_over_more_than_a_page_of_blocked_cards(branch, other_branch):
    record = make_record(title="Attendu", copies=[(branch, CopyStatus.ON_LOAN)])
    cards = [f"4100{n:04d}" for n in range(1, 23)]
    here_copy = record.copies.get()
    _lent(here_copy, "40000000")
    for card in cards:
        place_request(
            patron=make_patron(other_branch, card=card), record_id=record.pk, pickup_branch=other_branch
        )
    from emporter.patrons.models import Patron

    Patron.objects.filter(card_number__in=cards).update(blocked_reason="amende")  # they keep their place
    mine, _ = place_request(
        patron=make_patron(branch, card="41009999"), record_id=record.pk, pickup_branch=branch
    )
    returned = desk.check_in(barcode=here_copy.barcode, branch=branch)
    mine.refresh_from_db()
    assert returned.served == mine and mine.status == Status.READY


def test_a_return_pages_past_requests_whose_library_does_not_request_its_type(branch, other_branch):
    # Checked in Python, not in SQL: the copy's type is not requested where they collect.
    RequestPolicy.objects.create(branch=other_branch, requestable_types=["book"])
    record = make_record(
        title="Film", copies=[(other_branch, CopyStatus.ON_LOAN), (branch, CopyStatus.ON_LOAN)]
    )
    Copy.objects.filter(record=record, branch=branch).update(doc_type="dvd")
    cards = [f"4200{n:04d}" for n in range(1, 23)]
    returned, mine = _check_in_serves_past(other_branch, branch, cards_ahead=cards, record=record)
    assert returned.served == mine and mine.status == Status.READY


# -- 3. No waiting list that never moves -----------------------------------------------


def test_a_title_only_other_libraries_hold_is_refused_where_only_own_copies_are_lent(branch, own_only):
    record = make_record(title="Ailleurs", copies=[branch])
    with pytest.raises(ServiceError) as refused:
        place_request(
            patron=make_patron(own_only, card="50000001"), record_id=record.pk, pickup_branch=own_only
        )
    assert refused.value.code == "none_of_its_own"


def test_a_request_whose_library_wrote_off_its_only_copy_is_closed_as_not_found(branch, own_only):
    record = make_record(title="Perdu", copies=[(own_only, CopyStatus.ON_LOAN), branch])
    request, _ = place_request(
        patron=make_patron(own_only, card="50000002"), record_id=record.pk, pickup_branch=own_only
    )
    assert request.status == Status.WAITING
    # Vaise's copy was never returned: written off in the library system, imported so.
    two_days_ago = timezone.now() - datetime.timedelta(days=2)
    Copy.objects.filter(branch=own_only).update(status=CopyStatus.WITHDRAWN, updated_at=two_days_ago)
    serve_waiting()
    assert close_waiting_without_copies() == 1
    request.refresh_from_db()
    assert request.status == Status.NOT_FOUND


def test_a_waiting_request_is_not_moved_to_a_library_that_cannot_serve_it(branch, own_only):
    record = make_record(title="Ailleurs", copies=[(branch, CopyStatus.ON_LOAN)])
    request, _ = place_request(
        patron=make_patron(own_only, card="50000003"), record_id=record.pk, pickup_branch=branch
    )
    with pytest.raises(ServiceError) as refused:
        change_pickup(request=request, branch=own_only)
    assert refused.value.code == "pickup_no_copy"


# -- 4. One copy of a title per patron at the door ---------------------------------------


def _expired_bag_and_new_request(branch, patron, record):
    first, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    first.refresh_from_db()
    expire_overdue(today=first.hold_until + datetime.timedelta(days=1))
    first.refresh_from_db()
    assert first.status == Status.EXPIRED
    second, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    return first, second


def test_lending_an_expired_bag_fills_the_patrons_own_new_request(branch):
    from emporter.notices import compose
    from emporter.notices.models import Notice

    patron = make_patron(branch, card="20000001")
    record = make_record(title="Bestseller", copies=[branch, branch])
    first, second = _expired_bag_and_new_request(branch, patron, record)
    assert second.status == Status.PLACED and second.copy_id != first.copy_id
    desk.lend_expired(patron=patron, branch=branch, request_ids=[first.pk])
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    desk.hand_over(patron=patron, branch=branch)
    loans = Loan.objects.filter(patron=patron, returned_at__isnull=True, copy__record=record)
    assert list(loans.values_list("copy_id", flat=True)) == [first.copy_id]
    second.refresh_from_db()
    assert second.status == Status.CANCELLED
    assert Copy.objects.get(pk=second.copy_id).status == CopyStatus.ON_SHELF  # free for the next patron
    # The patron has the document in hand: no "cancelled" email about it.
    compose.compose_all(timezone.now() + datetime.timedelta(hours=1))
    closing = RequestEvent.objects.get(request=second, to_status=Status.CANCELLED)
    assert closing.reason == "lent_another_copy" and not closing.to_tell
    assert not Notice.objects.filter(patron=patron, kind="cancelled").exists()


def test_the_patrons_own_waiting_request_does_not_keep_their_expired_bag_from_them(branch):
    patron = make_patron(branch, card="20000002")
    record = make_record(title="Unique", copies=[branch])
    first, second = _expired_bag_and_new_request(branch, patron, record)
    assert second.status == Status.WAITING  # the only copy is still in the expired bag
    offered = desk_selectors.expired_here(patron_ids=[patron.pk], branch=branch)
    assert [(r.pk, r.waited_for) for r in offered] == [(first.pk, False)]
    assert len(desk.lend_expired(patron=patron, branch=branch, request_ids=[first.pk])) == 1
    second.refresh_from_db()
    assert second.status == Status.CANCELLED


def test_an_expired_bag_is_not_lent_once_another_copy_of_the_title_was_handed_over(branch):
    patron = make_patron(branch, card="20000003")
    record = make_record(title="Bestseller", copies=[branch, branch])
    first, second = _expired_bag_and_new_request(branch, patron, record)
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    desk.hand_over(patron=patron, branch=branch)  # the new bag first
    assert desk_selectors.expired_here(patron_ids=[patron.pk], branch=branch) == []
    assert desk.lend_expired(patron=patron, branch=branch, request_ids=[first.pk]) == []
    assert Loan.objects.filter(patron=patron, returned_at__isnull=True).count() == 1


# -- Concurrency -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_newcomers_at_once_while_someone_waits_take_no_copy_twice(postgres):
    """Twenty newcomers placing at once while one request waits and two copies are back
    on the shelf: no deadlock, no error, each copy set aside once, the rest wait."""
    from tests.test_place_requests_concurrency import run_at_once

    branch = make_branch()
    record = make_record(title="Rentrée", copies=[(branch, CopyStatus.ON_LOAN), (branch, CopyStatus.ON_LOAN)])
    first, _ = place_request(
        patron=make_patron(branch, card="60000000"), record_id=record.pk, pickup_branch=branch
    )
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)  # an import: both back
    patrons = [make_patron(branch, card=f"6{n:07d}") for n in range(1, 21)]
    results = run_at_once(
        [lambda p=p: place_request(patron=p, record_id=record.pk, pickup_branch=branch) for p in patrons]
    )
    assert not [r for r in results if isinstance(r, Exception)]
    placed = Request.objects.filter(record=record, status=Status.PLACED)
    assert placed.count() == 2 and placed.values("copy").distinct().count() == 2
    assert Request.objects.filter(record=record, status=Status.WAITING).count() == 19
    # The waiting request first: its serving is a few statements, a newcomer's placement
    # a dozen before it takes a copy (both copies to newcomers would take two of them
    # overtaking it in that window: the race left, docs/architecture.md).
    first.refresh_from_db()
    assert first.status == Status.PLACED


# -- Read again: however many ahead cannot take the copy ---------------------------------


@pytest.mark.parametrize("ahead", [9, 11])
def test_a_newcomer_does_not_take_a_copy_an_older_request_can_take_past_many_that_cannot(
    branch, other_branch, ahead
):
    """Eleven ahead that cannot take the DVD (their library requests only books): the sweep
    called for one request stopped after ten, and the newcomer took it."""
    RequestPolicy.objects.create(branch=other_branch, requestable_types=["book"])
    record = make_record(
        title="Film", copies=[(other_branch, CopyStatus.ON_LOAN), (branch, CopyStatus.ON_LOAN)]
    )
    dvd = record.copies.get(branch=branch)
    Copy.objects.filter(pk=dvd.pk).update(doc_type="dvd")
    for n in range(ahead):  # waiting at a library that requests only books
        p = make_patron(other_branch, card=f"4200{n:04d}")
        assert place_request(patron=p, record_id=record.pk, pickup_branch=other_branch)[0].status == "waiting"
    mine, _ = place_request(
        patron=make_patron(branch, card="42009999"), record_id=record.pk, pickup_branch=branch
    )
    assert mine.status == Status.WAITING
    # The DVD comes back on its shelf without a return (an import, an admin edit).
    Copy.objects.filter(pk=dvd.pk).update(status=CopyStatus.ON_SHELF)
    newcomer, _ = place_request(
        patron=make_patron(branch, card="42008888"), record_id=record.pk, pickup_branch=branch
    )
    mine.refresh_from_db()
    assert newcomer.status == Status.WAITING, "the newcomer jumped the queue"
    assert mine.status == Status.PLACED and mine.copy_id == dvd.pk
