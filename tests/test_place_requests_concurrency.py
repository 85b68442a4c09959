"""Real concurrency on PostgreSQL: threads with their own connections, not mocks."""

import threading

import pytest
from django.db import connection

from emporter.catalogue.models import CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import Request, RequestPolicy, Status
from emporter.holds.services import place_request
from tests.conftest import backend_pid, make_branch, make_patron, make_record, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(calls):
    """Start every call on its own thread and connection behind a barrier; return results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except ServiceError as error:
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run_side_by_side(*steps) -> list[Exception]:
    """Run each step on its own thread and connection (they coordinate themselves);
    return what they raised, for the main thread to assert."""
    errors = []

    def worker(step):
        try:
            step()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(step,)) for step in steps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_fifty_patrons_for_the_last_copy_exactly_one_gets_it(postgres):
    branch = make_branch()
    RequestPolicy.objects.create(allow_waiting_list=False)
    record = make_record(copies=[branch])
    patrons = [make_patron(branch, card=f"2{n:07d}") for n in range(50)]
    results = run_at_once(
        [lambda p=p: place_request(patron=p, record_id=record.pk, pickup_branch=branch) for p in patrons]
    )
    winners = [r for r in results if not isinstance(r, ServiceError)]
    assert len(winners) == 1
    assert {r.code for r in results if isinstance(r, ServiceError)} == {"nothing_available"}
    assert Request.objects.filter(status=Status.PLACED).count() == 1
    assert record.copies.get().status == CopyStatus.SET_ASIDE


def test_twenty_requests_at_once_with_a_limit_of_eight_exactly_eight_succeed(postgres):
    branch = make_branch()
    patron = make_patron(branch)
    records = [make_record(title=f"Titre {n}", copies=[branch]) for n in range(20)]
    results = run_at_once(
        [lambda r=r: place_request(patron=patron, record_id=r.pk, pickup_branch=branch) for r in records]
    )
    assert sum(not isinstance(r, ServiceError) for r in results) == 8
    assert {r.code for r in results if isinstance(r, ServiceError)} == {"limit_reached"}
    assert Request.objects.filter(patron=patron, status=Status.PLACED).count() == 8


def test_a_replayed_key_fired_at_once_gives_one_request(postgres):
    branch = make_branch()
    patron = make_patron(branch)
    record = make_record(copies=[branch, branch, branch])
    results = run_at_once(
        [
            lambda: place_request(
                patron=patron, record_id=record.pk, pickup_branch=branch, idempotency_key="abc"
            )
            for _ in range(10)
        ]
    )
    requests = {r[0].pk for r in results if not isinstance(r, ServiceError)}
    assert len(requests) == 1
    assert Request.objects.count() == 1
    assert record.copies.filter(status=CopyStatus.SET_ASIDE).count() == 1


def test_a_picker_moving_a_request_skips_the_copy_a_patron_is_taking(postgres):
    """No deadlock between a picker and a patron over one record's copies.

    The picker marks copy 1 missing (which locks the record: its availability summary)
    and moves the request to another copy; meanwhile a patron's placement has locked
    copy 2 and waits for the record. Had the picker waited for copy 2, each would wait
    for the other: PostgreSQL would kill one of them.
    """
    from django.db import transaction

    from emporter.catalogue.models import Copy
    from emporter.holds import policy
    from emporter.holds.allocation import take_copy

    here, there = make_branch(), make_branch(code="CRX", name="Croix-Rousse")
    record = make_record(copies=[there, here, there])
    missing, wanted, spare = record.copies.order_by("pk")
    rules = policy.resolve(branch=here)
    picker_holds_record = threading.Event()
    results, patron_pid = {}, []

    def picker():
        with transaction.atomic():
            Copy.objects.filter(pk=missing.pk).update(status=CopyStatus.MISSING)
            picker_holds_record.set()
            wait_until_blocked(patron_pid)
            results["picker"] = take_copy(
                record=record.pk, pickup_branch=here, policy=rules, exclude=[missing.pk]
            )

    def patron():
        patron_pid.append(backend_pid())
        assert picker_holds_record.wait(10)
        with transaction.atomic():
            results["patron"] = take_copy(record=record.pk, pickup_branch=here, policy=rules)

    assert run_side_by_side(picker, patron) == []
    assert (results["patron"], results["picker"]) == (wanted, spare)
    statuses = dict(Copy.objects.values_list("pk", "status"))
    assert statuses == {
        missing.pk: CopyStatus.MISSING,
        wanted.pk: CopyStatus.SET_ASIDE,
        spare.pk: CopyStatus.SET_ASIDE,
    }


def test_a_copy_someone_is_editing_is_waited_for_not_skipped(postgres):
    """Skipping it would leave the request waiting while the copy is on the shelf."""
    from django.db import transaction

    from emporter.catalogue.models import Copy

    branch = make_branch()
    record = make_record(copies=[branch])
    patron = make_patron(branch)
    editing, results, placer_pid = threading.Event(), {}, []

    def cataloguer():
        with transaction.atomic():
            Copy.objects.filter(record=record).update(call_number="R NOUVELLE")
            editing.set()
            wait_until_blocked(placer_pid)

    def placer():
        placer_pid.append(backend_pid())
        assert editing.wait(10)
        results["request"], _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)

    assert run_side_by_side(cataloguer, placer) == []
    assert results["request"].status == Status.PLACED
    assert record.copies.get().status == CopyStatus.SET_ASIDE


def test_an_import_and_a_placement_on_the_same_record_do_not_deadlock(postgres, tmp_path, monkeypatch):
    """The import locks its batch's copies before writing: it never holds a record while
    waiting for a copy that a placement holds while waiting for that record."""
    from emporter.catalogue import importer
    from emporter.catalogue.models import Copy
    from tests.test_import_marc import NOT_OUT, koha_items, run, write

    branch = make_branch()
    patron = make_patron(branch)
    run([write(tmp_path, "koha.mrc", [koha_items(("B1", NOT_OUT), ("B2", NOT_OUT)).as_marc()])])
    record_id = Copy.objects.get(barcode="B1").record_id
    # B1 lost, B2 in a new collection: the batch updates both copies of the record.
    lost_b1 = koha_items(("B1", [("0", "0"), ("1", "1")]), ("B2", [*NOT_OUT, ("8", "NOUVEAUTES")]))
    path = write(tmp_path, "koha.mrc", [lost_b1.as_marc()])  # same file name: same source
    halfway, results, placer_pid = threading.Event(), {}, []
    real_update = importer._Run.update_copies

    def update_in_two_steps(self, changed, counts):
        lost = real_update(self, changed[:1], counts)  # B1 is lost: its record is locked now
        halfway.set()
        wait_until_blocked(placer_pid)
        return lost + real_update(self, changed[1:], counts)

    monkeypatch.setattr(importer._Run, "update_copies", update_in_two_steps)

    def importing():
        results["import"] = run([path])[0]

    def placing():
        placer_pid.append(backend_pid())
        assert halfway.wait(10)
        results["request"], _ = place_request(patron=patron, record_id=record_id, pickup_branch=branch)

    assert run_side_by_side(importing, placing) == []
    assert results["request"].status == Status.PLACED
    assert dict(Copy.objects.values_list("barcode", "status")) == {
        "B1": CopyStatus.MISSING,
        "B2": CopyStatus.SET_ASIDE,
    }
