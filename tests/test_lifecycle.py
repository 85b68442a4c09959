import pytest
from django.db import transaction

from emporter.errors import ServiceError
from emporter.holds.lifecycle import transition, transition_all
from emporter.holds.models import Request, Status
from tests.conftest import make_ready_requests


def test_a_move_not_in_the_table_is_refused(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    with pytest.raises(ServiceError) as error, transaction.atomic():
        transition(request, Status.WAITING)
    assert error.value.code == "invalid_move"


def test_the_second_of_two_movers_gets_a_conflict(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    stale = Request.objects.get(pk=request.pk)
    with transaction.atomic():
        transition(request, Status.COLLECTED)
    with pytest.raises(ServiceError) as error, transaction.atomic():
        transition(stale, Status.EXPIRED)
    assert error.value.code == "conflict"
    assert Request.objects.get(pk=request.pk).status == Status.COLLECTED


def test_moving_several_at_once_is_all_or_nothing(patron, branch):
    requests = make_ready_requests(patron, branch, ["Un", "Deux", "Trois"])
    Request.objects.filter(pk=requests[1].pk).update(status=Status.EXPIRED)  # moved meanwhile
    with pytest.raises(ServiceError) as error, transaction.atomic():
        transition_all(requests, Status.COLLECTED, reason="handover")
    assert error.value.code == "conflict"
    assert list(Request.objects.order_by("pk").values_list("status", flat=True)) == [
        "ready",
        "expired",
        "ready",
    ]
    assert not requests[0].events.filter(to_status=Status.COLLECTED).exists()


def test_moving_several_writes_one_event_each(patron, branch):
    requests = make_ready_requests(patron, branch, ["Un", "Deux"])
    with transaction.atomic():
        transition_all(requests, Status.COLLECTED, reason="handover")
    for request in requests:
        event = request.events.last()
        assert (event.from_status, event.to_status, event.reason) == ("ready", "collected", "handover")
        assert Request.objects.get(pk=request.pk).closed_at is not None
