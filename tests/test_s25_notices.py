"""Notices, from the twenty-fifth session's review: one "ready" email for a bag even when
a "no copy left" of the night waits to be told with it."""

import datetime

from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.holds.models import RequestEvent, Status
from emporter.holds.services import close_waiting_without_copies, place_request
from emporter.notices.compose import compose_all
from emporter.notices.models import Kind, Notice
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record


def _at(hour, minute=0):
    return timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(hour, minute)))


def _closed_in_the_night(patron, branch):
    """A waiting request the night sweep closes at 03:00: its title's last copy withdrawn."""
    gone = make_record(title="Le Horla", copies=[(branch, CopyStatus.ON_LOAN)])
    waiting = place_request(patron=patron, record_id=gone.pk, pickup_branch=branch)[0]
    assert waiting.status == Status.WAITING
    two_days_ago = timezone.now() - datetime.timedelta(days=2)
    Copy.objects.filter(record=gone).update(status=CopyStatus.WITHDRAWN, updated_at=two_days_ago)
    assert close_waiting_without_copies() == 1
    RequestEvent.objects.filter(request=waiting).update(at=_at(3))
    return waiting


def test_a_not_found_of_the_night_does_not_split_the_mornings_ready_email(branch):
    """The group's age was read from its oldest event, the night's "no copy left" (03:00):
    over the three hours a "ready" email waits for the rest of the list, it went at the
    first document found (with the not-found one), and the second found had its own."""
    patron = make_patron(branch)
    gone = _closed_in_the_night(patron, branch)
    compose_all(now=_at(3, 1))  # nothing told at night
    records = [make_record(title=title, copies=[branch]) for title in ("Alpha", "Beta")]
    requests = [place_request(patron=patron, record_id=r.pk, pickup_branch=branch)[0] for r in records]
    RequestEvent.objects.filter(request__in=requests).update(at=_at(2))
    first, second = picking.build_run(branch=branch, kind="late").lines.order_by("pk")
    picking.mark_found(line=first)
    RequestEvent.objects.filter(request__in=requests, to_status=Status.READY).update(at=_at(9, 10))
    compose_all(now=_at(9, 11))  # Beta still on the list: the email waits for it
    picking.mark_found(line=second)
    RequestEvent.objects.filter(request=second.request, to_status=Status.READY).update(at=_at(9, 20))
    compose_all(now=_at(9, 21))
    compose_all(now=_at(13))
    (ready,) = Notice.objects.filter(kind__in=[Kind.READY, Kind.NOT_FOUND])
    assert ready.kind == Kind.READY
    told = set(ready.events.values_list("request_id", flat=True))
    assert told == {gone.pk, *(r.pk for r in requests)}
