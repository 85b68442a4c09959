"""A reopening commits its switch, then serves its waiting lists one request at a time:
held in the switch's transaction, thousands of them held every other write for minutes
(and failed them on SQLite once its busy timeout ran out)."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.holds import services, waiting
from emporter.holds.continuity import set_mode
from emporter.holds.lifecycle import record_event
from emporter.holds.models import Request, Status
from emporter.network.models import Branch, ModeChange, ServiceMode
from emporter.notices import reopening
from emporter.notices.models import Notice, NoticeEvent, State
from tests.conftest import make_branch, make_patron, make_record


def closed_with_a_queue(n=3):
    branch = make_branch()
    patron = make_patron(branch)
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    records = Record.objects.bulk_create(
        Record(source_key=f"t:{i}", title=f"Titre {i}", doc_type="book") for i in range(n)
    )
    Copy.objects.bulk_create(
        Copy(
            record=r, barcode=f"C{i:07d}", call_number="R", branch=branch, doc_type="book", status="on_shelf"
        )
        for i, r in enumerate(records)
    )
    Request.objects.bulk_create(
        Request(patron=patron, record=r, pickup_branch=branch, status=Status.WAITING, doc_type="book")
        for r in records
    )
    return branch, records


@pytest.mark.django_db(transaction=True)
def test_each_waiting_request_is_served_in_its_own_transaction_after_the_switch(monkeypatch):
    branch, records = closed_with_a_queue()
    real, seen = waiting._serve_one, []

    def serve_one(request_id, **kwargs):
        # Outside any transaction: the switch is committed, and nothing served waits for the rest.
        seen.append((connection.in_atomic_block, Branch.objects.get(pk=branch.pk).service_mode))
        return real(request_id, **kwargs)

    monkeypatch.setattr("emporter.holds.waiting._serve_one", serve_one)
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)
    assert seen and set(seen) == {(False, ServiceMode.CLICK_COLLECT)}
    assert set(Request.objects.values_list("status", flat=True)) == {Status.PLACED}


def test_a_newcomer_placing_while_the_queue_is_served_does_not_take_its_copy(db, monkeypatch):
    branch, records = closed_with_a_queue()
    newcomer = make_patron(branch, card="10000099", last_name="Nouveau")
    real, placed, started = waiting._serve_one, [], []

    def serve_one(request_id, **kwargs):
        if not started:  # the minute it reopens, before the last title's turn
            started.append(request_id)
            placed.extend(
                services.place_request(patron=newcomer, record_id=records[-1].pk, pickup_branch=branch)
            )
        return real(request_id, **kwargs)

    monkeypatch.setattr("emporter.holds.waiting._serve_one", serve_one)
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)
    placed[0].refresh_from_db()
    oldest = Request.objects.exclude(patron=newcomer).get(record=records[-1])
    assert (oldest.status, placed[0].status) == (Status.PLACED, Status.WAITING)
    assert Copy.objects.get(record=records[-1]).status == CopyStatus.SET_ASIDE


def reopen(branch):
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)


def marks(branch) -> list[tuple]:
    changes = ModeChange.objects.filter(branch=branch, to_mode=ServiceMode.CLICK_COLLECT)
    return [
        (to_tell, served_at is not None) for to_tell, served_at in changes.values_list("to_tell", "served_at")
    ]


def told_it_closed(request, patron):
    """``patron`` was emailed that ``request``'s library closed (tell_closed_pickups)."""
    event = record_event(request, old=Status.WAITING, reason="pickup_closed")
    notice = Notice.objects.create(
        patron=patron, kind="pickup_closed", state=State.SENT, dedupe_key=f"c:{request.pk}"
    )
    NoticeEvent.objects.create(notice=notice, event=event)


def test_the_reopening_is_told_once_its_queue_is_served_even_if_serving_fails(db, monkeypatch):
    """The composer telling a reopening locks the requests of those told it had closed:
    told before the serving ended, the serving passed over them, newer first."""
    branch, _records = closed_with_a_queue()
    during = []

    def serve_one(request_id, **kwargs):
        during.append((marks(branch), reopening.tell_reopenings()))
        raise RuntimeError("the worker meets a bug half-way")

    monkeypatch.setattr("emporter.holds.waiting._serve_one", serve_one)
    with pytest.raises(RuntimeError):
        reopen(branch)
    assert during == [([(True, False)], 0)]  # to be told, not yet
    assert marks(branch) == [(True, True)]  # and told at the composer's next pass


def test_a_reopening_whose_serving_never_ended_is_told_all_the_same(db):
    """Its worker killed half-way (the machine stopped): told SERVED_WITHIN after."""
    branch, records = closed_with_a_queue(n=1)
    waiting = Request.objects.get()
    told_it_closed(waiting, waiting.patron)
    reopen(branch)
    long_ago = timezone.now() - reopening.SERVED_WITHIN - datetime.timedelta(minutes=1)
    ModeChange.objects.filter(branch=branch).update(served_at=None, changed_at=long_ago)
    assert reopening.tell_reopenings() == 1


def test_no_request_is_served_for_a_library_closed_again_meanwhile(db, monkeypatch):
    branch = make_branch()
    elsewhere = make_branch(code="CRX", name="Croix-Rousse")
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    patron = make_patron(branch)
    for record in (
        make_record(title="Premier", copies=[branch]),
        make_record(title="Second", copies=[branch, elsewhere]),
    ):
        Request.objects.create(
            patron=patron, record=record, pickup_branch=branch, status=Status.WAITING, doc_type="book"
        )
    real, closed = waiting._serve_one, []

    def serve_one(request_id, **kwargs):
        if not closed:  # the administrator closes it again, a moment after the reopening
            closed.append(True)
            set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
        return real(request_id, **kwargs)

    monkeypatch.setattr("emporter.holds.waiting._serve_one", serve_one)
    reopen(branch)
    assert not Request.objects.filter(status=Status.PLACED).exists(), (
        "served for collection at a closed library"
    )


@pytest.mark.django_db(transaction=True)
def test_the_oldest_request_is_served_while_the_composer_runs(postgres, monkeypatch):
    """The 15-second composer running during a long reopening's serving (it will) takes
    no request of it from the oldest patron."""
    branch = make_branch()
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    record = make_record(copies=[branch])
    first, second = make_patron(branch, card="10000001"), make_patron(branch, card="10000002")
    oldest = Request.objects.create(
        patron=first, record=record, pickup_branch=branch, status=Status.WAITING, doc_type="book"
    )
    newer = Request.objects.create(
        patron=second, record=record, pickup_branch=branch, status=Status.WAITING, doc_type="book"
    )
    told_it_closed(oldest, first)  # the oldest one's patron only
    release, composing = threading.Event(), []
    real_event, real_serve = reopening.record_event, waiting._serve_one

    def slow_event(request, **kwargs):  # one of thousands: its transaction lasts a while
        made = real_event(request, **kwargs)
        release.wait(5)
        return made

    def composer():
        try:
            reopening.tell_reopenings()
        finally:
            connection.close()

    def serve_one(request_id, **kwargs):
        if not composing:
            composing.append(threading.Thread(target=composer))
            composing[0].start()
            composing[0].join(1)  # it would lock the oldest request, were the reopening told yet
        return real_serve(request_id, **kwargs)

    monkeypatch.setattr(reopening, "record_event", slow_event)
    monkeypatch.setattr("emporter.holds.waiting._serve_one", serve_one)
    try:
        reopen(branch)
    finally:
        release.set()
        composing and composing[0].join(30)
    oldest.refresh_from_db()
    newer.refresh_from_db()
    assert (oldest.status, newer.status) == (Status.PLACED, Status.WAITING)
