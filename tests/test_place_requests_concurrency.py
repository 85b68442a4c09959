"""Real concurrency on PostgreSQL: threads with their own connections, not mocks."""

import threading

import pytest
from django.db import connection

from emporter.catalogue.models import CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import Request, RequestPolicy, Status
from emporter.holds.services import place_request
from tests.conftest import make_branch, make_patron, make_record

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
