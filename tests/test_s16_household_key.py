"""One idempotency key is one call, across a household too: a guardian's app sending one
key for two children at the same instant placed both baskets (each placement locked only
its own child, and the household's keys were read outside any lock)."""

import pytest

from emporter.holds import services
from emporter.holds.models import Request
from tests.conftest import make_branch, make_patron, make_record
from tests.test_place_requests_concurrency import run_at_once


def _family(branch):
    guardian = make_patron(branch, card="30000001")
    children = [make_patron(branch, card=f"3000001{n}", guardian=guardian) for n in range(2)]
    ids = [make_record(title=f"T{n}", copies=[branch]).pk for n in range(2)]
    return guardian, children, ids


def _place(child, ids, branch, guardian):
    return services.place_requests(
        patron=child,
        record_ids=ids,
        pickup_branch=branch,
        actor=guardian.user,
        idempotency_key="fam",
        theirs=True,
    )


@pytest.mark.django_db(transaction=True)
def test_one_key_for_two_children_at_once_places_one_basket(postgres):
    branch = make_branch()
    guardian, children, ids = _family(branch)
    results = run_at_once([lambda c=c: _place(c, ids, branch, guardian) for c in children])
    outcomes = [[(o.ok, o.error and o.error.code) for o in r] for r in results]
    assert Request.objects.count() == 2, outcomes
    assert sorted(outcomes) == [[(False, "idempotency_key_reused")] * 2, [(True, None)] * 2]


def test_a_retry_for_the_same_child_is_still_a_replay(branch):
    guardian, (child, other), ids = _family(branch)
    first = _place(child, ids, branch, guardian)
    again = _place(child, ids, branch, guardian)
    assert [o.request.pk for o in again] == [o.request.pk for o in first]
    assert all(o.replayed for o in again)
    assert [o.error.code for o in _place(other, ids, branch, guardian)] == ["idempotency_key_reused"] * 2
