"""The request lifecycle after the review: where a freed copy goes, one deadline per bag,
bags closed on cancel, PIN changes that end API sessions, locks that lock what they mean."""

import datetime
import threading
from unittest import mock

import pytest
from django.db import IntegrityError, connection, transaction

from emporter.api.models import ApiToken, Scope
from emporter.api.tokens import check_token, issue_token
from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.errors import ServiceError
from emporter.holds.models import Bag, Request, Status
from emporter.holds.services import cancel_request, expire_overdue, place_request
from emporter.network.models import Branch
from emporter.patrons.models import Patron
from emporter.patrons.services import change_pin, reset_pin
from emporter.picking import services as picking
from tests.conftest import (
    backend_pid,
    make_branch,
    make_patron,
    make_ready_requests,
    make_record,
    wait_until_blocked,
)

MONDAY = datetime.date(2026, 11, 23)
THURSDAY = datetime.date(2026, 11, 26)


def on(day):
    return mock.patch("django.utils.timezone.localdate", return_value=day)


def sent_from(home, patron, pickup, title="Voyageur"):
    """A request picked up at ``pickup`` for the only copy, at ``home``: pulled there and
    found, so in transit to ``pickup``."""
    record = make_record(title=title, copies=[home])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=pickup)
    (line,) = picking.build_run(branch=home, kind="late").lines.all()
    picking.mark_found(line=line)
    request.refresh_from_db()
    assert request.copy.status == CopyStatus.IN_TRANSIT
    return request


def ready_from(home, patron, pickup, title="Voyageur"):
    """As ``sent_from``, then received at ``pickup``: in the patron's bag there."""
    request = sent_from(home, patron, pickup, title)
    picking.receive(branch=pickup, barcode=request.copy.barcode)
    request.refresh_from_db()
    assert request.status == Status.READY
    return request


def waiting_for(request, branch, card="30000001"):
    waiting, _ = place_request(
        patron=make_patron(branch, card=card), record_id=request.record_id, pickup_branch=branch
    )
    assert waiting.status == Status.WAITING
    return waiting


def status_of(copy) -> str:
    return Copy.objects.get(pk=copy.pk).status


# A. A freed copy goes where it now belongs, from where it is ----------------------------


def test_an_expired_bag_at_another_library_sends_the_copy_home_not_to_its_shelf(patron, branch, other_branch):
    # Croix-Rousse's copy, picked up at Part-Dieu; someone waits for it at Croix-Rousse.
    request = ready_from(other_branch, patron, branch)
    waiting = waiting_for(request, other_branch)
    assert expire_overdue(today=request.hold_until + datetime.timedelta(days=1)) == 1
    # Still at Part-Dieu, in a bag: on its way home, on no shelf, on no one's pick list.
    assert status_of(request.copy) == CopyStatus.IN_TRANSIT
    waiting.refresh_from_db()
    assert waiting.status == Status.WAITING
    assert not picking.build_run(branch=other_branch, kind="late").lines.exists()
    # Home at last: the waiting request gets it.
    _, served = desk.receive_home(barcode=request.copy.barcode, branch=other_branch)
    assert served == waiting


def test_cancelling_a_ready_request_at_another_library_sends_the_copy_home(patron, branch, other_branch):
    request = ready_from(other_branch, patron, branch)
    cancel_request(request=request)
    assert status_of(request.copy) == CopyStatus.IN_TRANSIT


def test_a_copy_cancelled_on_its_way_can_still_be_checked_in_at_both_ends(patron, branch, other_branch):
    request = sent_from(other_branch, patron, branch)
    waiting = waiting_for(request, other_branch)
    cancel_request(request=request)
    assert status_of(request.copy) == CopyStatus.IN_TRANSIT
    waiting.refresh_from_db()
    assert waiting.status == Status.WAITING
    # At Part-Dieu, where the van brings it: not for a bag any more, to be sent home.
    with pytest.raises(ServiceError) as error:
        desk.receive_home(barcode=request.copy.barcode, branch=branch)
    assert (error.value.code, error.value.params["home"]) == ("send_home", other_branch.name)
    # The pickup branch's arrivals screen says the same, not "not expected here".
    with pytest.raises(ServiceError) as error:
        picking.receive(branch=branch, barcode=request.copy.barcode)
    assert error.value.code == "send_home"
    expected = "n’est plus pour un sac ici\u00a0: renvoyez-le à Croix-Rousse."
    assert error.value.message == f"{request.copy.barcode} {expected}"
    # Scanned as an arrival at its own library, it is sent to the Returns screen.
    with pytest.raises(ServiceError) as error:
        picking.receive(branch=other_branch, barcode=request.copy.barcode)
    assert error.value.code == "scan_at_returns"
    # At Croix-Rousse: home, and to the waiting request.
    _, served = desk.receive_home(barcode=request.copy.barcode, branch=other_branch)
    assert served == waiting


def test_a_copy_freed_from_the_hold_shelf_at_home_waits_to_be_taken_out_of_the_bag(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Annulé"])
    waiting = waiting_for(request, branch)
    cancel_request(request=request)
    # Still in the bag: neither on the shelf (no pick list may send anyone for it) nor
    # promised yet; staff take it out and scan it, then it serves the waiting list.
    assert status_of(request.copy) == CopyStatus.HOLD_SHELF
    waiting.refresh_from_db()
    assert waiting.status == Status.WAITING
    _, served = desk.receive_home(barcode=request.copy.barcode, branch=branch)
    assert served == waiting
    # In hand at the returns desk: into the waiting patron's bag at once.
    assert status_of(request.copy) == CopyStatus.HOLD_SHELF
    waiting.refresh_from_db()
    assert waiting.status == Status.READY


def test_an_expired_copy_at_home_goes_on_the_shelf_once_scanned(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Expiré"])
    expire_overdue(today=request.hold_until + datetime.timedelta(days=1))
    assert status_of(request.copy) == CopyStatus.HOLD_SHELF
    with pytest.raises(ServiceError):  # scanned at another library: not expected there
        desk.receive_home(barcode=request.copy.barcode, branch=make_branch(code="VAI", name="Vaise"))
    copy, served = desk.receive_home(barcode=request.copy.barcode, branch=branch)
    assert (served, status_of(copy)) == (None, CopyStatus.ON_SHELF)


def test_cancelling_before_the_pull_puts_the_copy_back_at_once(patron, branch, other_branch):
    # Set aside at Croix-Rousse for Part-Dieu, not pulled yet: it never left its shelf.
    record = make_record(copies=[other_branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    cancel_request(request=request)
    assert status_of(request.copy) == CopyStatus.ON_SHELF


# B. One bag, one deadline -----------------------------------------------------------------


def test_a_document_joining_a_bag_moves_every_ready_documents_deadline_to_the_bags(patron, branch):
    with on(MONDAY):
        (first,) = make_ready_requests(patron, branch, ["Lundi"])
    with on(THURSDAY):
        (second,) = make_ready_requests(patron, branch, ["Jeudi"])
    first.refresh_from_db()
    bag = Bag.objects.get()
    assert second.hold_until > MONDAY + datetime.timedelta(days=5)
    assert first.hold_until == second.hold_until == bag.hold_until
    # What the email and the label say is when both expire.
    assert expire_overdue(today=bag.hold_until) == 0
    assert expire_overdue(today=bag.hold_until + datetime.timedelta(days=1)) == 2


def test_an_earlier_deadline_never_shortens_the_bags(patron, branch):
    with on(THURSDAY):
        (first,) = make_ready_requests(patron, branch, ["Jeudi"])
    with on(MONDAY):  # a clock set back: the bag keeps its later deadline
        (second,) = make_ready_requests(patron, branch, ["Lundi"])
    first.refresh_from_db()
    assert first.hold_until == second.hold_until == Bag.objects.get().hold_until


# C. Cancelling the last ready document closes the bag --------------------------------------


def test_cancelling_the_last_ready_document_closes_the_bag(patron, branch):
    first, second = make_ready_requests(patron, branch, ["Un", "Deux"])
    cancel_request(request=first)
    assert Bag.objects.get().state == Bag.State.OPEN
    cancel_request(request=second)
    bag = Bag.objects.get()
    assert bag.state == Bag.State.CLOSED and bag.closed_at is not None
    # The next document found opens a new bag rather than filling a closed one.
    (third,) = make_ready_requests(patron, branch, ["Trois"])
    assert third.bag != bag and third.bag.state == Bag.State.OPEN


# D. The database refuses an active request without a patron -------------------------------


def test_only_a_closed_request_may_lose_its_patron(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Request.objects.filter(pk=request.pk).update(patron=None)
    Request.objects.filter(pk=request.pk).update(status=Status.COLLECTED)
    Request.objects.filter(pk=request.pk).update(patron=None)


# E. A new PIN ends the API sessions ----------------------------------------------------------


def test_changing_the_pin_revokes_the_patrons_api_tokens(patron, branch):
    _, token = issue_token(user=patron.user, scope=Scope.PATRON)
    other = make_patron(branch, card="30000009")
    _, theirs = issue_token(user=other.user, scope=Scope.PATRON)
    change_pin(patron=Patron.objects.get(pk=patron.pk), old_pin="1234", new_pin="5839")
    assert check_token(token) is None
    assert check_token(theirs) is not None


def test_a_wrong_current_pin_revokes_nothing(patron):
    _, token = issue_token(user=patron.user, scope=Scope.PATRON)
    with pytest.raises(ServiceError):
        change_pin(patron=patron, old_pin="0000", new_pin="5839")
    assert check_token(token) is not None


def test_a_pin_in_other_digits_than_ascii_is_refused(patron):
    # "²²²²".isdigit() is true: such a PIN could never be typed on the sign-in keypad.
    with pytest.raises(ServiceError) as error:
        change_pin(patron=patron, old_pin="1234", new_pin="²²²²")
    assert error.value.code == "pin_invalid"


def test_resetting_the_pin_revokes_the_patrons_api_tokens(patron):
    _, token = issue_token(user=patron.user, scope=Scope.PATRON)
    reset_pin(patron=patron)
    assert check_token(token) is None
    assert not ApiToken.objects.filter(user=patron.user).exists()


# G. Locks that lock only what they mean to (PostgreSQL) --------------------------------------


def _while_locked(lock, action):
    """Run ``action`` here while another connection holds the rows ``lock`` locks."""
    locked, done = threading.Event(), threading.Event()

    def holder():
        try:
            with transaction.atomic():
                lock()
                locked.set()
                done.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(10)
        result = action()
        # Done while the rows were held, not once the holder gave up waiting.
        assert not done.is_set() and thread.is_alive()
        return result
    finally:
        done.set()
        thread.join(10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("held", ["branch", "patron"])
def test_a_waiting_request_is_served_while_its_branch_or_patron_row_is_locked(postgres, held):
    branch = make_branch()
    patron = make_patron(branch)
    record = make_record(copies=[branch])
    first, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    other = make_patron(branch, card="30000002")
    waiting, _ = place_request(patron=other, record_id=record.pk, pickup_branch=branch)

    def lock():  # a picker opening a bag at this branch; the other patron placing a request
        if held == "branch":  # as holds.services._bag_for takes it, or an edit of the branch
            Branch.objects.select_for_update(no_key=True).get(pk=branch.pk)
        else:
            Patron.objects.select_for_update().get(pk=other.pk)

    _while_locked(lock, lambda: cancel_request(request=first))
    waiting.refresh_from_db()
    assert waiting.status == Status.PLACED


def _in_thread(action, box: list):
    """Start ``action`` on its own thread and connection; its backend pid goes in ``box``."""

    def run():
        try:
            box.append(backend_pid())
            action()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_the_two_last_documents_of_a_bag_cancelled_at_once_close_it(postgres):
    branch = make_branch()
    patron = make_patron(branch)
    first, second = make_ready_requests(patron, branch, ["Un", "Deux"])
    first_done, commit = threading.Event(), threading.Event()

    def cancel_first_and_wait():
        with transaction.atomic():
            cancel_request(request=first)
            first_done.set()
            commit.wait(10)

    holder = _in_thread(cancel_first_and_wait, [])
    assert first_done.wait(10)
    pid = []
    other = _in_thread(lambda: cancel_request(request=second), pid)
    # Without the bag lock, each would see the other still ready.
    wait_until_blocked(pid, unless_done=lambda: not other.is_alive())
    commit.set()
    holder.join(10), other.join(10)
    assert Bag.objects.get().state == Bag.State.CLOSED


@pytest.mark.django_db(transaction=True)
def test_a_document_found_while_its_bag_is_being_emptied_goes_into_a_new_bag(postgres):
    branch = make_branch()
    patron = make_patron(branch)
    (first,) = make_ready_requests(patron, branch, ["Un"])
    record = make_record(title="Deux", copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    (line,) = picking.build_run(branch=branch, kind="late").lines.all()
    cancelled, commit = threading.Event(), threading.Event()

    def cancel_and_wait():
        with transaction.atomic():
            cancel_request(request=first)  # the bag's last ready document: the bag closes
            cancelled.set()
            commit.wait(10)

    holder = _in_thread(cancel_and_wait, [])
    assert cancelled.wait(10)
    pid = []
    finder = _in_thread(lambda: picking.mark_found(line=line), pid)
    wait_until_blocked(pid, unless_done=lambda: not finder.is_alive())
    commit.set()
    holder.join(10), finder.join(10)
    second = Request.objects.get(record=record)
    assert second.status == Status.READY
    assert second.bag.state == Bag.State.OPEN and second.bag != first.bag
    assert second.hold_until == second.bag.hold_until


@pytest.mark.django_db(transaction=True)
def test_a_document_joining_a_bag_takes_the_locks_in_the_order_a_cancel_does(postgres):
    """Cancel, expiry and hand-over lock a request, then its bag; putting a document in
    the bag must not lock the bag first, then that request (a deadlock)."""
    from emporter.holds.services import close_bag_if_done

    branch = make_branch()
    patron = make_patron(branch)
    (first,) = make_ready_requests(patron, branch, ["Un"])
    record = make_record(title="Deux", copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    (line,) = picking.build_run(branch=branch, kind="late").lines.all()
    errors, locked, started, pid, threads = [], threading.Event(), threading.Event(), [], {}

    def cancel_like():  # the first half of a cancel: the request is locked
        try:
            with transaction.atomic():
                Request.objects.select_for_update().get(pk=first.pk)
                locked.set()
                assert started.wait(10)
                wait_until_blocked(pid, unless_done=lambda: not threads["finder"].is_alive())
                close_bag_if_done(bag_id=first.bag_id)  # the second half: its bag
        except Exception as error:
            errors.append(error)

    def find():
        try:
            picking.mark_found(line=line)
        except Exception as error:
            errors.append(error)

    holder = _in_thread(cancel_like, [])
    assert locked.wait(10)
    threads["finder"] = finder = _in_thread(find, pid)
    started.set()
    holder.join(20), finder.join(20)
    assert errors == []
    assert Request.objects.get(record=record).hold_until == first.bag.hold_until
