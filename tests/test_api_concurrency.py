"""The API under real concurrency on PostgreSQL: threads, each with its own connection."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from emporter.api.models import Scope
from emporter.api.tokens import issue_token
from emporter.holds.models import Request
from tests.conftest import make_branch, make_patron, make_record

pytestmark = pytest.mark.django_db(transaction=True)


def post_at_once(bodies_and_headers):
    """POST every (body, headers) to the basket endpoint at the same moment."""
    barrier = threading.Barrier(len(bodies_and_headers))
    responses = [None] * len(bodies_and_headers)

    def worker(i, body, headers):
        try:
            client = Client()
            barrier.wait()
            response = client.post(
                "/api/v1/requests", json.dumps(body), content_type="application/json", headers=headers
            )
            responses[i] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, *bh)) for i, bh in enumerate(bodies_and_headers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses


def bearer(patron):
    return {"Authorization": f"Bearer {issue_token(user=patron.user, scope=Scope.PATRON)[1]}"}


def test_the_same_idempotency_key_sent_ten_times_at_once_places_one_request(postgres):
    branch = make_branch()
    patron = make_patron(branch)
    record = make_record(copies=[branch, branch, branch])
    headers = bearer(patron) | {"Idempotency-Key": "double-click"}
    responses = post_at_once([({"record_ids": [record.pk]}, headers)] * 10)
    assert {status for status, _ in responses} == {201}
    ids = {body["items"][0]["request"]["id"] for _, body in responses}
    assert len(ids) == 1
    assert sum(body["items"][0]["replayed"] for _, body in responses) == 9
    assert Request.objects.count() == 1


def test_twenty_baskets_at_once_by_one_patron_place_exactly_eight(postgres):
    branch = make_branch()
    patron = make_patron(branch)
    records = [make_record(title=f"Titre {n}", copies=[branch]) for n in range(20)]
    headers = bearer(patron)
    responses = post_at_once([({"record_ids": [r.pk]}, headers) for r in records])
    statuses = sorted(status for status, _ in responses)
    assert statuses == [201] * 8 + [409] * 12
    assert {body["code"] for status, body in responses if status == 409} == {"limit_reached"}
    assert Request.objects.filter(patron=patron).count() == 8
