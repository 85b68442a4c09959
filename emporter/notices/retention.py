"""Forgetting notices once they are done with (Koha purges its message queue the same
way, ``cleanup_database.pl --mail``).

A notice says who was told what about which requests: its patron, address and subject,
and its links to the request events. It is kept NOTICE_RETENTION_DAYS after its last
attempt so that staff can see what went out, correct an address and send again; then it
is deleted with its links. Notices still to be sent (pending, or being sent) are never
deleted: that would drop them.

Deleting a link never makes an event told again: a told event has ``to_tell`` cleared
(compose._told), and the composer reads nothing else. The retention cannot be set below
MINIMUM_RETENTION (checked at start-up, and enforced here should the check be
silenced): staff answering a patron about last week's emails must still find them.
"""

import datetime
import time

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from emporter import adminlog

from .models import Kind, Notice, NoticeEvent, NoticeLoan, State

DEFAULT_RETENTION_DAYS = 30
# A week, and a day of room for clocks that disagree between machines.
MINIMUM_RETENTION = datetime.timedelta(days=8)
# States nothing will move a notice out of on its own (staff may still resend).
DONE = (State.SENT, State.FAILED, State.UNCERTAIN, State.SKIPPED)
BATCH = 1000


def configured_retention() -> datetime.timedelta:
    return datetime.timedelta(days=getattr(settings, "NOTICE_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def retention() -> datetime.timedelta:
    """The configured retention, never shorter than MINIMUM_RETENTION."""
    return max(configured_retention(), MINIMUM_RETENTION)


def forgettable(now: datetime.datetime):
    """Done notices whose last attempt, and every event they told, are older than the
    retention. The events' own times are checked too, so that a notice stamped by a
    machine whose clock was far behind is not forgotten early."""
    cutoff = now - retention()
    recent_event = NoticeEvent.objects.filter(notice=OuterRef("pk"), event__at__gte=cutoff)
    # A done notice has been claimed, which stamps next_attempt_at with the attempt time.
    attempted_before = Q(next_attempt_at__lt=cutoff) | Q(next_attempt_at__isnull=True, created_at__lt=cutoff)
    return Notice.objects.filter(attempted_before, state__in=DONE).exclude(Exists(recent_event))


# As the scheduler's other sweeps (jobs.schedule.SWEEP_SECONDS): a backlog (the retention
# shortened, a first run after a long stop) goes over several passes, not in one that
# holds up every other job, notices first, and the heartbeat /healthz/jobs reads.
SECONDS = 45


def forget_old_notices(now: datetime.datetime | None = None, *, seconds: float = SECONDS) -> int:
    """Delete the notices done with for longer than the retention, with their links to
    the events, and unlink at once the notices of requests whose borrower is forgotten;
    for ``seconds`` at most, the next pass going on. Returns how many were deleted."""
    now = now or timezone.now()
    deadline = time.monotonic() + seconds
    unlink_forgotten_requests(deadline=deadline)
    deleted = 0
    while time.monotonic() < deadline:
        with transaction.atomic():
            # Locked until deleted. Staff sending one again at that moment either wait
            # and find it gone, or got there first: it is pending again, and skipped.
            ids = list(forgettable(now).select_for_update().values_list("pk", flat=True)[:BATCH])
            if not ids:
                return deleted
            adminlog.forget_lines(Notice, ids)
            Notice.objects.filter(pk__in=ids).delete()  # and their links (cascade)
        deleted += len(ids)
    return deleted


def unlink_forgotten_requests(*, deadline: float | None = None) -> int:
    """The links from done notices to the events of requests whose borrower has been
    forgotten (desk: the loan's anonymisation), so that the notice no longer says what
    they borrowed. Safe at any age: the composer never tells an event of a request with
    no patron. The notice itself (who was written to, when) stays for the retention.
    Returns how many links were deleted. Given a ``deadline`` (``time.monotonic()``),
    stops there, the next pass going on."""
    unlinked = 0
    # A receipt's loans likewise (desk.services.anonymise_returned forgets the borrower).
    for links, forgotten in (
        (NoticeEvent, Q(event__request__patron__isnull=True)),
        (NoticeLoan, Q(loan__patron__isnull=True)),
    ):
        done = links.objects.filter(forgotten, notice__state__in=DONE)
        while rows := list(done.values_list("pk", "notice_id")[:BATCH]):
            if deadline is not None and time.monotonic() >= deadline:
                return unlinked
            unlinked += links.objects.filter(pk__in=[pk for pk, _ in rows]).delete()[0]
            _forget_keys({notice_id for _, notice_id in rows})
    return unlinked


# The notices whose key names the first event they told ("ready:<patron>:<branch>:<event>"):
# a reminder's names its bag and deadline, a cancelled pickup time's its appointment,
# and the composer reads those to tell nothing twice; a receipt's is keyed (receipts._key).
KEYED_BY_EVENT = [
    Kind.CONFIRMATION,
    Kind.READY,
    Kind.NOT_FOUND,
    Kind.CANCELLED,
    Kind.EXPIRED,
    Kind.PICKUP_CLOSED,
    Kind.WAITING_AGAIN,
    Kind.PICKUP_REOPENED,
]


def _forget_keys(notice_ids: set[int]) -> None:
    """The key of a notice that told of a forgotten request no longer names its event
    (the event leads to the request, and the request to what they borrowed). Its
    events, once told, are never grouped again: the key has done its work."""
    Notice.objects.filter(pk__in=notice_ids, kind__in=KEYED_BY_EVENT).update(
        dedupe_key=Concat(Value("forgotten:"), Cast("pk", CharField()))
    )
