"""A library reopens: the patrons who were told it had closed are told it is open again.

Only those whose "pickup library closed" email actually left (a closing undone before
it was sent tells nobody anything, twice), and only for requests still to be collected
there: one event per request (no change of status), which ``compose`` turns into one
email per patron, as it did for the closing. Only once the reopening's waiting lists are
served (``ModeChange.served_at``), or ``SERVED_WITHIN`` after the switch when the serving
never ended."""

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from emporter.holds.lifecycle import record_event
from emporter.holds.models import ACTIVE, Request, RequestEvent
from emporter.network.models import LENDING_MODES, ModeChange, ServiceMode

from .models import State

# Far longer than a reopening's serving takes (3,000 waiting requests: a minute or two).
SERVED_WITHIN = datetime.timedelta(minutes=30)


def knows_closed(rows, *, request, branch):
    """``rows`` whose patron's last word about the library was a "closed" email: one left
    for the request there, and no "reopened" one since. ``request`` and ``branch`` say how
    a row names them (``OuterRef("pk")`` for requests, ``OuterRef("request")`` for
    events). The one rule for both ends: a reopening tells them (``tell_reopened``), a
    closing does not tell them again (``compose._not_known_closed``)."""
    told = RequestEvent.objects.filter(
        Q(notice_link__notice__state=State.SENT), request=request, branch=branch
    )
    last_closed = told.filter(reason="pickup_closed").order_by("-at").values("at")[:1]
    reopened_since = told.filter(reason="pickup_reopened", at__gt=OuterRef("closed_told_at"))
    return (
        rows.annotate(closed_told_at=Subquery(last_closed))
        .filter(closed_told_at__isnull=False)
        .exclude(Exists(reopened_since))
    )


def tell_reopenings() -> int:
    """The reopenings the switch marked ``to_tell`` (``holds.continuity.set_mode``), in
    order: each library's patrons who were told it had closed get an event, which the
    composer's next step turns into one email each. A reopening undone (the library
    closed again since) tells nobody: they still know it closed.
    The mark is taken off under a guard, so two composers cannot tell twice."""
    marked = 0
    # Once its waiting lists are served (the telling locks requests the serving would pass
    # over), or, its serving never ended (its worker killed), SERVED_WITHIN after the switch.
    served = Q(served_at__isnull=False) | Q(changed_at__lt=timezone.now() - SERVED_WITHIN)
    for change in (
        ModeChange.objects.filter(served, to_tell=True).select_related("branch", "changed_by").order_by("pk")
    ):
        with transaction.atomic():
            if not ModeChange.objects.filter(pk=change.pk, to_tell=True).update(to_tell=False):
                continue  # another composer took it
            # Closed again since: they still know it closed. Switched between lending
            # modes since (click and collect, then normal service): still reopened.
            closed_since = ModeChange.objects.filter(
                branch=change.branch_id, pk__gt=change.pk, to_mode=ServiceMode.CLOSED
            )
            if change.branch.service_mode in LENDING_MODES and not closed_since.exists():
                marked += tell_reopened(branch=change.branch, actor=change.changed_by)
    return marked


def tell_reopened(*, branch, actor=None) -> int:
    """Mark the requests at ``branch`` whose patron's last word about it was a "closed"
    email (``knows_closed``); returns how many."""
    marked = 0
    with transaction.atomic():
        requests = knows_closed(
            Request.objects.select_for_update(of=("self",)).filter(pickup_branch=branch, status__in=ACTIVE),
            request=OuterRef("pk"),
            branch=branch,
        )
        for request in requests.order_by("pk"):
            record_event(request, old=request.status, actor=actor, reason="pickup_reopened")
            marked += 1
    return marked
