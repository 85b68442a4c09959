"""A patron cancels while a picker settles the same request (PostgreSQL, real threads)."""

import threading

import pytest
from django.db import connection, transaction

from emporter.catalogue.models import Copy, CopyStatus
from emporter.holds.models import Status
from emporter.holds.services import cancel_request, place_request
from emporter.picking import services as picking
from tests.conftest import backend_pid, make_branch, make_patron, make_record, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)


def cancel_while(settle, request) -> list[Exception]:
    """Run ``settle`` in a transaction that holds the request while a cancel waits for it."""
    pid, go, errors = [], threading.Event(), []

    def cancel():
        try:
            pid.append(backend_pid())
            go.wait(10)
            cancel_request(request=request)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=cancel)
    thread.start()
    with transaction.atomic():
        settle()
        go.set()
        wait_until_blocked(pid)  # the cancel now waits for the request's lock
    thread.join(10)
    return errors


def test_a_cancel_behind_found_leaves_the_document_in_its_bag_to_put_back(postgres):
    branch = make_branch()
    record = make_record(copies=[branch])
    request, _ = place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)
    line = picking.build_run(branch=branch, kind="extra").lines.get()

    assert cancel_while(lambda: picking.mark_found(line=line), request) == []

    request.refresh_from_db()
    assert request.status == Status.CANCELLED
    # Pulled into a bag at its own library: it stays on the hold shelf, listed to take
    # out, rather than being said to be on a shelf it is not on.
    assert Copy.objects.get(pk=request.copy_id).status == CopyStatus.HOLD_SHELF


def test_a_cancel_behind_not_found_frees_the_copy_the_request_moved_to(postgres):
    branch = make_branch()
    record = make_record(copies=[branch, branch])
    request, _ = place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)
    first = request.copy_id
    line = picking.build_run(branch=branch, kind="extra").lines.get()

    assert cancel_while(lambda: picking.mark_not_found(line=line), request) == []

    request.refresh_from_db()
    statuses = dict(Copy.objects.filter(record=record).values_list("pk", "status"))
    assert request.status == Status.CANCELLED
    assert request.copy_id != first
    # Neither copy is left set aside for a request that no longer exists.
    assert statuses == {first: CopyStatus.MISSING, request.copy_id: CopyStatus.ON_SHELF}


def test_found_on_one_list_while_not_found_on_another_does_not_deadlock(postgres, branch):
    """A copy on two lists: the morning line of a request cancelled at 9:05 (the copy was
    set aside for the next patron) and that patron's line on a late list made before the
    sweep. One picker has it in hand on the morning list while another, on the late list,
    says it is not on the shelf."""
    import datetime

    from django.utils import timezone

    from emporter.holds.models import Request
    from emporter.picking.models import LineStatus, PickLine

    record = make_record(copies=[branch])
    first, _ = place_request(patron=make_patron(branch, card="1"), record_id=record.pk, pickup_branch=branch)
    Request.objects.filter(pk=first.pk).update(placed_at=timezone.now() - datetime.timedelta(days=1))
    morning = picking.build_run(branch=branch).lines.get()
    second, _ = place_request(patron=make_patron(branch, card="2"), record_id=record.pk, pickup_branch=branch)
    cancel_request(request=first)  # the copy is set aside for the second patron at once
    late = picking.build_run(branch=branch, kind="late").lines.get()
    assert PickLine.objects.filter(copy_id=morning.copy_id, status=LineStatus.PENDING).count() == 2

    pids, errors, threads = {"found": [], "not_found": []}, [], []

    def picker(name, mark):
        def run():
            try:
                pids[name].append(backend_pid())
                mark()
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)

    with transaction.atomic():
        # Hold the second request: each picker gets as far as it can, then waits here.
        Request.objects.select_for_update().get(pk=second.pk)
        picker("not_found", lambda: picking.mark_not_found(line=late, reason="absent"))
        wait_until_blocked(pids["not_found"])
        picker("found", lambda: picking.mark_found(line=morning))
        wait_until_blocked(pids["found"])
    for thread in threads:
        thread.join(15)
    # No deadlock: the picker with the copy in hand, second, is told what to do with it.
    assert [getattr(error, "code", error) for error in errors] in ([], ["missing_in_hand"])
    second.refresh_from_db()
    copy = Copy.objects.get(pk=morning.copy_id)
    # Whoever went first, the copy is where its request says: in the bag, or missing
    # with the request moved on (here, closed: no other copy).
    if second.status == Status.READY:
        assert copy.status == CopyStatus.HOLD_SHELF
    else:
        assert second.status == Status.NOT_FOUND and copy.status == CopyStatus.MISSING
