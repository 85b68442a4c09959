"""Moving a waiting request to a library whose only copies of the title are of a type it
takes no request for: refused, as placing it there would be (twenty-sixth session)."""

import pytest

from emporter.catalogue.models import Copy, CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import RequestPolicy, Status
from emporter.holds.services import change_pickup, place_request
from tests.conftest import make_patron, make_record


def _waiting_for_the_book(branch, other_branch):
    """Libraries lend their own copies only, and take requests for books only. The
    title's book is on loan at ``branch``; ``other_branch`` has its audiobook only."""
    RequestPolicy.objects.create(allow_other_branches=False, requestable_types=["book"])
    record = make_record(title="Le coffret", copies=[branch, other_branch])
    book, audiobook = Copy.objects.filter(record=record).order_by("pk")
    Copy.objects.filter(pk=book.pk).update(status=CopyStatus.ON_LOAN)
    Copy.objects.filter(pk=audiobook.pk).update(doc_type="audiobook")
    request = place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)[0]
    assert request.status == Status.WAITING
    return request


def test_a_copy_of_a_type_not_requested_is_no_copy_to_move_to(branch, other_branch):
    """It was moved, to wait there behind the audiobook that no sweep would give it."""
    request = _waiting_for_the_book(branch, other_branch)
    with pytest.raises(ServiceError) as error:
        change_pickup(request=request, branch=other_branch)
    assert error.value.code == "pickup_no_copy"
    request.refresh_from_db()
    assert (request.pickup_branch, request.status) == (branch, Status.WAITING)


def test_a_book_at_the_other_library_still_lets_it_move(branch, other_branch):
    request = _waiting_for_the_book(branch, other_branch)
    Copy.objects.filter(record=request.record, branch=other_branch).update(doc_type="book", status="on_loan")
    change_pickup(request=request, branch=other_branch)
    request.refresh_from_db()
    assert (request.pickup_branch, request.status) == (other_branch, Status.WAITING)
