"""A reopening commits its switch, then serves its waiting lists one request at a time:
held in the switch's transaction, thousands of them held every other write for minutes
(and failed them on SQLite once its busy timeout ran out)."""

import pytest
from django.db import connection

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.holds import services
from emporter.holds.continuity import set_mode
from emporter.holds.models import Request, Status
from emporter.network.models import Branch, ServiceMode
from tests.conftest import make_branch, make_patron


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
    real, seen = services._serve_one, []

    def serve_one(request_id, **kwargs):
        # Outside any transaction: the switch is committed, and nothing served waits for the rest.
        seen.append((connection.in_atomic_block, Branch.objects.get(pk=branch.pk).service_mode))
        return real(request_id, **kwargs)

    monkeypatch.setattr(services, "_serve_one", serve_one)
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)
    assert seen and set(seen) == {(False, ServiceMode.CLICK_COLLECT)}
    assert set(Request.objects.values_list("status", flat=True)) == {Status.PLACED}


def test_a_newcomer_placing_while_the_queue_is_served_does_not_take_its_copy(db, monkeypatch):
    branch, records = closed_with_a_queue()
    newcomer = make_patron(branch, card="10000099", last_name="Nouveau")
    real, placed, started = services._serve_one, [], []

    def serve_one(request_id, **kwargs):
        if not started:  # the minute it reopens, before the last title's turn
            started.append(request_id)
            placed.extend(
                services.place_request(patron=newcomer, record_id=records[-1].pk, pickup_branch=branch)
            )
        return real(request_id, **kwargs)

    monkeypatch.setattr(services, "_serve_one", serve_one)
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)
    placed[0].refresh_from_db()
    oldest = Request.objects.exclude(patron=newcomer).get(record=records[-1])
    assert (oldest.status, placed[0].status) == (Status.PLACED, Status.WAITING)
    assert Copy.objects.get(record=records[-1]).status == CopyStatus.SET_ASIDE
