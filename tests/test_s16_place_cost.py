"""What placing a basket costs the database: each document is placed in its own
transaction holding the patron's row, so what it reads there is read once per document
and what the basket's documents share is read once per basket (the rules, the records).

Counted around ``place_requests`` itself, the web basket's path (the patron's own key
and account), not around a test-client request.

Per document (11): SAVEPOINT, the patron's row locked, their active requests and this
call's keyed ones (limits and replay, one read), the places their open surprise bags
hold (under the same lock: a bag may be asked between two documents), the types of the
copies that could serve, a loan of the title at home, the candidate copy locked (its
whole row), the guarded UPDATE taking it, the request, its event, RELEASE. Per basket
(5): the card holder and their household (whose keys are checked), the rules (one read,
at home or away), the records, and those of them someone waits for while a copy is on a
shelf (their queue is served first). Before: 16 per document (17 away from home) and 2
per basket.
"""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from emporter.holds import placement, services
from emporter.holds.models import Channel, Request, RequestPolicy, Status
from tests.conftest import make_branch, make_record

PER_DOCUMENT = 11
PER_BASKET = 5
PER_REPLAY = 4  # SAVEPOINT, the patron's row, their requests, RELEASE


@pytest.fixture
def demo_rules(db):
    """The demo network's: 8 active requests, 3 DVDs (so the type limits are read)."""
    return RequestPolicy.objects.create(max_active=8, type_limits={"dvd": 3})


def place(patron, records, pickup, key=None):
    with CaptureQueriesContext(connection) as queries:
        outcomes = services.place_requests(
            patron=patron,
            record_ids=[r.pk for r in records],
            pickup_branch=pickup,
            channel=Channel.ONLINE,
            actor=patron.user,
            idempotency_key=key or str(uuid.uuid4()),
        )
    return outcomes, [q["sql"] for q in queries.captured_queries]


def eight(pickup):
    return [make_record(title=f"Titre {n}", copies=[pickup]) for n in range(8)]


@pytest.mark.parametrize("away", [False, True], ids=["at home", "away from home"])
def test_a_basket_of_eight_costs_eleven_queries_a_document(demo_rules, patron, branch, away):
    pickup = make_branch(code="CRX", name="Croix-Rousse") if away else branch
    outcomes, queries = place(patron, eight(pickup), pickup)
    assert [o.request.status for o in outcomes] == [Status.PLACED] * 8
    assert len(queries) <= PER_BASKET + 8 * PER_DOCUMENT, "\n".join(queries)


@pytest.mark.parametrize("away", [False, True], ids=["at home", "away from home"])
def test_the_rules_are_read_once_a_basket(demo_rules, patron, branch, away):
    pickup = make_branch(code="CRX", name="Croix-Rousse") if away else branch
    outcomes, queries = place(patron, eight(pickup), pickup)
    assert all(o.ok for o in outcomes)
    assert len([q for q in queries if "holds_requestpolicy" in q]) == 1


def test_a_basket_replayed_reads_each_document_once(demo_rules, patron, branch):
    records = eight(branch)
    key = str(uuid.uuid4())
    first, _ = place(patron, records, branch, key)
    again, queries = place(patron, records, branch, key)
    assert [o.request.pk for o in again] == [o.request.pk for o in first]
    assert all(o.replayed for o in again)
    assert len(queries) <= PER_BASKET + 8 * PER_REPLAY, "\n".join(queries)


def test_the_limits_still_hold_within_one_basket(patron, branch):
    RequestPolicy.objects.create(max_active=5, type_limits={"dvd": 2})
    dvds = [make_record(title=f"DVD {n}", copies=[branch], doc_type="dvd") for n in range(3)]
    books = [make_record(title=f"Livre {n}", copies=[branch]) for n in range(4)]
    outcomes, _ = place(patron, dvds + books, branch)
    codes = [o.error.code if o.error else "ok" for o in outcomes]
    assert codes == ["ok", "ok", "type_limit_reached", "ok", "ok", "ok", "limit_reached"]
    assert Request.objects.filter(patron=patron, status=Status.PLACED).count() == 5


def test_the_rules_are_read_again_when_the_patron_changed_since_the_basket_began(patron, branch):
    """The rules are read for the patron as the caller had them; placed under their lock
    as they are now (a librarian changed their category meanwhile)."""
    RequestPolicy.objects.create(category="adult", max_active=1)
    assert patron.category == "adult"
    patron.category = "child"  # what the caller read; "adult" in the database
    outcomes, _ = place(patron, eight(branch)[:2], branch)
    assert [o.error.code if o.error else "ok" for o in outcomes] == ["ok", "limit_reached"]


def test_another_call_with_the_key_between_two_documents_is_still_refused(demo_rules, patron, branch):
    """The call's keys are read under the patron's lock for every document, not once for
    the basket: another call using the key meanwhile stops the rest of this one."""
    records = eight(branch)[:3]
    key = str(uuid.uuid4())
    real = services.place_request

    def other_call_in_between(**kw):
        if kw["record_id"] == records[1].pk:
            Request.objects.create(
                patron=patron,
                record=make_record(title="Autre"),
                pickup_branch=branch,
                status=Status.CANCELLED,
                doc_type="book",
                idempotency_key=f"{Channel.ONLINE}:{key} 999999",
                idempotency_fingerprint="0" * 16,
            )
        return real(**kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("emporter.holds.placement.place_request", other_call_in_between)
        outcomes, _ = place(patron, records, branch, key)
    codes = [o.error.code if o.error else "ok" for o in outcomes]
    assert codes == ["ok", "idempotency_key_reused", "idempotency_key_reused"]


def test_a_record_deleted_after_the_basket_was_read_is_unknown(demo_rules, patron, branch):
    records = eight(branch)[:2]
    read = placement._Basket.read.__func__

    def read_then_delete(cls, *args):
        basket = read(cls, *args)
        records[0].delete()  # its copies with it
        return basket

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(placement._Basket, "read", classmethod(read_then_delete))
        outcomes, _ = place(patron, records, branch)
    assert [o.error.code if o.error else "ok" for o in outcomes] == ["unknown_record", "ok"]
