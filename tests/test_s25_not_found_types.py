"""Not found, and no other copy the library takes requests for: the patron is told, not
left waiting behind a copy of a type no sweep would give them (twenty-fifth session)."""

from emporter.catalogue.models import Copy
from emporter.holds import services
from emporter.holds.models import RequestPolicy, Status
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record


def _kit_not_found(branch):
    """Books only are requested here; a title's book copy, taken by a request, is not
    found; its other copy, an audiobook, is on loan."""
    RequestPolicy.objects.create(requestable_types=["book"])
    record = make_record(title="Le coffret", copies=[branch, branch])
    book, audiobook = Copy.objects.filter(record=record).order_by("pk")
    Copy.objects.filter(pk=audiobook.pk).update(doc_type="audiobook", status="on_loan")
    request = services.place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)[0]
    assert request.copy_id == book.pk
    picking.mark_not_found(line=picking.build_run(branch=branch, kind="late").lines.get())
    request.refresh_from_db()
    return request


def test_a_copy_of_a_type_not_requested_is_no_copy_to_wait_for(branch):
    """It went back on the waiting list, where neither the sweep that serves it nor the
    one that closes stranded requests ever looked at it again: one of its patron's eight
    places taken for good, and nobody told."""
    request = _kit_not_found(branch)
    assert request.status == Status.NOT_FOUND


def test_a_book_on_loan_is_still_waited_for(branch):
    RequestPolicy.objects.create(requestable_types=["book"])
    record = make_record(title="Le roman", copies=[branch, branch])
    first, second = Copy.objects.filter(record=record).order_by("pk")
    Copy.objects.filter(pk=second.pk).update(status="on_loan")
    request = services.place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)[0]
    assert request.copy_id == first.pk
    picking.mark_not_found(line=picking.build_run(branch=branch, kind="late").lines.get())
    request.refresh_from_db()
    assert request.status == Status.WAITING
