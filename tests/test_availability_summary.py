"""The record's summary of where its copies are (PostgreSQL, migration 0007), kept by triggers.

Search counts its branch facet and "available now" from ``copy_branches`` and
``shelf_branches``; these tests change copies by every kind of write the application
makes and compare the summary with the copies themselves.
"""

import threading

import pytest
from django.db import connection, transaction

from emporter.catalogue.models import Copy, CopyStatus
from emporter.catalogue.search import Filters, search_records
from tests.conftest import backend_pid, make_branch, make_record, wait_until_blocked


def summary(record) -> tuple[list[int], list[int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT copy_branches, shelf_branches FROM catalogue_record WHERE id = %s", [record.pk]
        )
        return cursor.fetchone()


def truth(record) -> tuple[list[int], list[int]]:
    copies = Copy.objects.filter(record=record)
    return (
        sorted(set(copies.values_list("branch_id", flat=True))),
        sorted(set(copies.filter(status=CopyStatus.ON_SHELF).values_list("branch_id", flat=True))),
    )


@pytest.fixture
def branches(db):
    return make_branch(), make_branch(code="CRX", name="Croix-Rousse"), make_branch(code="VAI", name="Vaise")


def test_a_new_record_has_an_empty_summary_and_its_copies_fill_it(branches, postgres):
    pdi, crx, _ = branches
    record = make_record(copies=[])
    assert summary(record) == ([], [])
    Copy.objects.create(record=record, barcode="A1", branch=crx, status=CopyStatus.ON_LOAN)
    Copy.objects.create(record=record, barcode="A2", branch=pdi)
    assert summary(record) == truth(record) == ([pdi.pk, crx.pk], [pdi.pk])


def test_every_kind_of_write_keeps_the_summary_right(branches, postgres):
    pdi, crx, vai = branches
    record = make_record(copies=[pdi, pdi, crx])
    other = make_record(title="Autre", copies=[vai])
    assert summary(record) == truth(record)

    # A guarded UPDATE, as when a copy is set aside for a request: one copy left at PDI.
    first = record.copies.filter(branch=pdi).first()
    assert Copy.objects.filter(pk=first.pk, status=CopyStatus.ON_SHELF).update(status=CopyStatus.SET_ASIDE)
    assert summary(record) == truth(record) == ([pdi.pk, crx.pk], [pdi.pk, crx.pk])

    # Both PDI copies off the shelf in one statement.
    record.copies.filter(branch=pdi).update(status=CopyStatus.ON_LOAN)
    assert summary(record) == truth(record) == ([pdi.pk, crx.pk], [crx.pk])

    # bulk_update moving a copy to another branch.
    moved = record.copies.get(branch=crx)
    moved.branch = vai
    Copy.objects.bulk_update([moved], ["branch"])
    assert summary(record) == truth(record) == ([pdi.pk, vai.pk], [vai.pk])

    # A copy given to another record (a cataloguer merging duplicates): both summaries change.
    moved.record = other
    moved.save()
    assert summary(record) == truth(record) == ([pdi.pk], [])
    assert summary(other) == truth(other) == ([vai.pk], [vai.pk])

    # bulk_create, then a delete.
    Copy.objects.bulk_create(
        [Copy(record=record, barcode="N1", branch=crx), Copy(record=record, barcode="N2", branch=crx)]
    )
    assert summary(record) == truth(record) == ([pdi.pk, crx.pk], [crx.pk])
    record.copies.filter(branch=crx).delete()
    assert summary(record) == truth(record) == ([pdi.pk], [])
    record.copies.all().delete()
    assert summary(record) == ([], [])


def test_an_update_that_changes_no_branch_or_status_leaves_the_record_row_alone(branches, postgres):
    pdi, _, _ = branches
    record = make_record(copies=[pdi])
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin FROM catalogue_record WHERE id = %s", [record.pk])
        before = cursor.fetchone()
        record.copies.update(call_number="R NEW")
        cursor.execute("SELECT xmin FROM catalogue_record WHERE id = %s", [record.pk])
        assert cursor.fetchone() == before


def test_search_facets_follow_the_copies(branches):
    """On both engines: what the facets say is what the copies say, right after a change."""
    pdi, crx, _ = branches
    record = make_record(title="Le Phare", copies=[pdi, crx])
    result = search_records(q="phare", filters=Filters(available=True, branch_id=crx.pk))
    assert result.total == result.available_count == 1
    record.copies.filter(branch=crx).update(status=CopyStatus.ON_LOAN)
    assert search_records(q="phare", filters=Filters(available=True, branch_id=crx.pk)).total == 0
    anywhere = search_records(q="phare", filters=Filters(available=True))
    assert anywhere.total == 1
    assert [(f.label, f.count) for f in anywhere.facets["branch"]] == [(pdi.name, 1)]
    everywhere = search_records(q="phare")
    assert sorted((f.label, f.count) for f in everywhere.facets["branch"]) == [(crx.name, 1), (pdi.name, 1)]
    assert everywhere.available_count == 1


@pytest.mark.django_db(transaction=True)
def test_two_transactions_taking_the_last_copies_of_one_record_at_once(postgres):
    """The second writer waits for the first and then reads the copies it committed.

    Without the lock taken before reading, the second recomputation would use a snapshot
    from before the first commit and put back a branch whose copy has left the shelf.
    """
    pdi, crx = make_branch(), make_branch(code="CRX", name="Croix-Rousse")
    record = make_record(copies=[pdi, crx])
    first_holds_lock, second_started = threading.Event(), threading.Event()
    errors = []

    def take(branch, before_commit, pid=None):
        try:
            if pid is not None:
                pid.append(backend_pid())
            with transaction.atomic():
                Copy.objects.filter(record=record, branch=branch).update(status=CopyStatus.SET_ASIDE)
                before_commit()
        except Exception as error:  # reported below, in the main thread
            errors.append(error)
        finally:
            connection.close()

    second_pid = []

    def first_waits():
        first_holds_lock.set()
        assert second_started.wait(10)
        # Commit only once the second writer waits on the record's lock.
        wait_until_blocked(second_pid)

    first = threading.Thread(target=take, args=(pdi, first_waits))
    first.start()
    assert first_holds_lock.wait(10)
    second = threading.Thread(target=take, args=(crx, lambda: None, second_pid))
    second_started.set()
    second.start()
    first.join(10)
    second.join(10)
    assert not errors
    assert summary(record) == truth(record) == ([pdi.pk, crx.pk], [])


def test_record_pages_keep_room_for_summary_updates_in_place(postgres):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'catalogue_record'")
        assert "fillfactor=85" in cursor.fetchone()[0]


def test_only_copies_a_request_can_take_count_as_available(branches):
    """On both engines: no barcode, or a reference location, is on a shelf but not
    available; switching the location to requestable makes it available at once."""
    from emporter.network.models import Location
    from tests.conftest import make_department, make_location

    pdi, crx, _ = branches
    reference = make_location(make_department(crx), code="fonds", name="Fonds", requestable=False)
    record = make_record(title="Le Phare du bout", copies=[pdi, crx])
    record.copies.filter(branch=pdi).update(barcode=None)
    record.copies.filter(branch=crx).update(location=reference)
    result = search_records(q="phare bout")
    assert (result.total, result.available_count) == (1, 0)
    assert search_records(q="phare bout", filters=Filters(available=True)).total == 0
    Location.objects.filter(pk=reference.pk).update(requestable=True)
    result = search_records(q="phare bout", filters=Filters(available=True))
    assert (result.total, result.available_count) == (1, 1)
    assert [(f.label, f.count) for f in result.facets["branch"]] == [(crx.name, 1)]
    if connection.vendor == "postgresql":
        assert summary(record) == ([pdi.pk, crx.pk], [crx.pk])
