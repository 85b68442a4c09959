"""The continuity switch: libraries moved between normal service, click and collect and
closed. It lives with the requests rather than the network because a reopening is
mostly about them (bags given their days back, waiting lists served); the patrons are
told by ``notices``, which reads the switch's history (``ModeChange.to_tell``, once
``served_at``)."""

import logging

from django.db import transaction
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.network.models import LENDING_MODES, ModeChange, ServiceMode, closed_for_a_while

from .bags import extend_after_reopening
from .models import Request, Status
from .waiting import serve_waiting

logger = logging.getLogger(__name__)


def set_mode(*, branches, mode: str, actor) -> int:
    """Switch ``branches`` to ``mode``; returns how many changed. Logged: who, when, what.

    A branch that reopens gives the bags that waited there while it was closed their
    days back (``holds.services.extend_after_reopening``): they did not expire while
    nobody could collect them, and must not expire the morning it reopens. Its shelves
    serve the waiting lists at once, oldest request first, and its own waiting requests
    take the copies elsewhere they were passed over for while it was closed: a patron
    placing a request the minute it reopens must not take a copy others have waited
    for (``_serve_reopened``, once the switch is committed). And its change is marked
    ``to_tell``: the composer tells those told it had closed that it has reopened
    (``notices.reopening``)."""
    # One transaction: the expiry sweep must never see the branch open again with its
    # bags' old deadlines, and a failure here leaves the mode as it was (one while serving,
    # after the commit, leaves it switched: served_at set, the task failed).
    with transaction.atomic():
        # The rows that change locked first: two switches at once (a double click, a retry
        # after a proxy's timeout) would both see the branch closed and reopen it twice,
        # telling its patrons twice. The second now waits, then sees it open. A "no key"
        # lock: a FOR UPDATE would also stop every insert pointing at those branches
        # (requests, events, bags, loans: their foreign-key checks) for the whole switch.
        list(
            branches.exclude(service_mode=mode)
            .select_for_update(no_key=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        reopening = list(branches.filter(service_mode=ServiceMode.CLOSED)) if mode in LENDING_MODES else []
        # A closing undone within CLOSING_GRACE moved nothing: its bags keep their
        # deadlines (a mistaken click gave every bag there a whole new hold).
        closed_long = set(branches.filter(closed_for_a_while()).values_list("pk", flat=True))
        now = timezone.now()
        switched = list(branches.exclude(service_mode=mode).values_list("pk", "service_mode"))
        changed = branches.exclude(service_mode=mode).update(service_mode=mode, mode_changed_at=now)
        # This switch is the last asked: one still waiting in the task queue, asked
        # before, no longer applies (network.tasks.switch_modes).
        branches.update(mode_asked_at=now)
        who = actor if actor is not None and actor.is_authenticated else None
        ModeChange.objects.bulk_create(
            ModeChange(
                branch_id=pk,
                from_mode=old,
                to_mode=mode,
                changed_by=who,
                changed_at=now,
                # Told once its waiting lists are served (served_at, below).
                to_tell=old == ServiceMode.CLOSED and mode in LENDING_MODES,
            )
            for pk, old in switched
        )
        for branch in reopening:
            if branch.pk in closed_long:
                extend_after_reopening(branch=branch)
    # Then the waiting lists, each request served and committed on its own: held in the
    # switch's transaction, thousands of them (30 ms each) held every other write for
    # minutes, and on SQLite made them fail once its busy timeout ran out. The reopening
    # is told only then (served_at): the composer telling it locks the requests of those
    # told it had closed, which the serving would pass over, newer ones first.
    try:
        for branch in reopening:
            _serve_reopened(branch, actor=actor)
    finally:
        ModeChange.objects.filter(
            branch__in=reopening, from_mode=ServiceMode.CLOSED, to_mode=mode, changed_at=now
        ).update(served_at=timezone.now())
    logger.info("service mode %s for %d branch(es) by %s", mode, changed, actor)
    return changed


def _serve_reopened(branch, *, actor) -> None:
    """Serve what a reopened branch can: every waiting request its shelves can serve, not
    a first batch (the rest would wait for the sweep), and those to be collected there,
    passed over while it was closed (a copy that came back elsewhere meanwhile went on
    its shelf there, theirs now). Someone placing a request meanwhile does not take a
    copy from them: a placement serves its title's queue first."""
    on_its_shelves = Copy.objects.filter(branch=branch, status=CopyStatus.ON_SHELF).values("record_id")
    serve_waiting(actor=actor, records=on_its_shelves, limit=None)
    waited_for_here = Request.objects.filter(pickup_branch=branch, status=Status.WAITING)
    serve_waiting(actor=actor, records=waited_for_here.values("record_id"), limit=None)
