"""A library reopens: the patrons who were told it had closed are told it is open again.

Only those whose "pickup library closed" email actually left (a closing undone before
it was sent tells nobody anything, twice), and only for requests still to be collected
there: one event per request (no change of status), which ``compose`` turns into one
email per patron, as it did for the closing."""

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef

from emporter.holds.lifecycle import record_event
from emporter.holds.models import ACTIVE, Request

from .models import Kind, NoticeEvent, State


def tell_reopened(*, branch, closed_at: datetime.datetime, actor=None) -> int:
    """Mark the requests at ``branch`` whose patron was told, since ``closed_at``, that it
    had closed; returns how many. Called by ``network.services.set_mode`` on reopening."""
    told_closed = NoticeEvent.objects.filter(
        event__request=OuterRef("pk"),
        event__reason="pickup_closed",
        event__at__gte=closed_at,
        notice__kind=Kind.PICKUP_CLOSED,
        notice__state=State.SENT,
    )
    marked = 0
    with transaction.atomic():
        requests = Request.objects.select_for_update(of=("self",)).filter(
            Exists(told_closed), pickup_branch=branch, status__in=ACTIVE
        )
        for request in requests.order_by("pk"):
            record_event(request, old=request.status, actor=actor, reason="pickup_reopened")
            marked += 1
    return marked
