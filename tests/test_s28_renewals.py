"""Renewals refused for someone waiting only when the copy could go to them once back
(the queue's rule, as Koha blocks a renewal only for a hold the item could fill)."""

import pytest

from emporter.desk import services as desk
from emporter.desk.models import LoanPolicy
from emporter.errors import ServiceError
from emporter.holds.models import RequestPolicy, Status
from emporter.holds.services import place_request
from emporter.patrons.models import Patron
from tests.conftest import make_patron, make_ready_requests


@pytest.fixture
def loan(patron, branch):
    LoanPolicy.objects.update_or_create(doc_type="", defaults={"max_renewals": 3})
    make_ready_requests(patron, branch, ["Prolongé"])
    return desk.hand_over(patron=patron, branch=branch).loans[0]


def waiter_at(pickup, record_id, card="40000002"):
    request, _ = place_request(
        patron=make_patron(pickup, card=card), record_id=record_id, pickup_branch=pickup
    )
    assert request.status == Status.WAITING
    return request


def test_a_loan_someone_waits_for_is_not_renewed(loan, patron, branch):
    waiter_at(branch, loan.copy.record_id)
    with pytest.raises(ServiceError) as refused:
        desk.renew(loan=loan, patron=patron)
    assert refused.value.code == "requested_by_someone_else"


def test_a_waiter_at_a_library_lending_only_its_own_copies_does_not_block_another_librarys(
    loan, patron, other_branch
):
    RequestPolicy.objects.create(branch=other_branch, allow_other_branches=False)
    # The library has a copy of its own, out too: its patron waits for that one.
    loan.copy.record.copies.create(barcode="OWN-1", branch=other_branch, status="on_loan", doc_type="book")
    waiter_at(other_branch, loan.copy.record_id)

    assert desk.renew(loan=loan, patron=patron).renewals == 1


def test_a_waiter_with_a_blocked_card_does_not_block_a_renewal(loan, patron, branch):
    waiting = waiter_at(branch, loan.copy.record_id)
    Patron.objects.filter(pk=waiting.patron_id).update(blocked_reason="Amende")

    assert desk.renew(loan=loan, patron=patron).renewals == 1
