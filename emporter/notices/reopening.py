"""A library reopens: the patrons who were told it had closed are told it is open again.

Only those whose "pickup library closed" email actually left (a closing undone before
it was sent tells nobody anything, twice), and only for requests still to be collected
there: one event per request (no change of status), which ``compose`` turns into one
email per patron, as it did for the closing."""

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery

from emporter.holds.lifecycle import record_event
from emporter.holds.models import ACTIVE, Request, RequestEvent

from .models import State


def tell_reopened(*, branch, actor=None) -> int:
    """Mark the requests at ``branch`` whose patron's last word about it was a "closed"
    email (one left, and no "reopened" one since: closed twice in a row is told once,
    ``compose._not_known_closed``); returns how many. Called by
    ``network.services.set_mode`` on reopening."""
    sent = Q(notice_link__notice__state=State.SENT)
    closed_told = RequestEvent.objects.filter(
        sent, request=OuterRef("pk"), branch=branch, reason="pickup_closed"
    )
    reopened_told_since = RequestEvent.objects.filter(
        sent,
        request=OuterRef("pk"),
        branch=branch,
        reason="pickup_reopened",
        at__gt=OuterRef("closed_told_at"),
    )
    marked = 0
    with transaction.atomic():
        requests = (
            Request.objects.select_for_update(of=("self",))
            .filter(pickup_branch=branch, status__in=ACTIVE)
            .annotate(closed_told_at=Subquery(closed_told.order_by("-at").values("at")[:1]))
            .filter(closed_told_at__isnull=False)
            .exclude(Exists(reopened_told_since))
        )
        for request in requests.order_by("pk"):
            record_event(request, old=request.status, actor=actor, reason="pickup_reopened")
            marked += 1
    return marked
