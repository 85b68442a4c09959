"""Sending the outbox: retried with backoff, never dropped, never sent twice.

Each send is three steps, each committed on its own:
1. claim: PENDING → SENDING with a guarded UPDATE (two workers cannot both claim);
2. hand the message to the mail server (or SMS provider);
3. record: SENDING → SENT, or back to PENDING with a later attempt time if the server
   was down or answered 4xx, or FAILED for a permanent refusal (5xx, no address).
A worker dying between 2 and 3 leaves the notice in SENDING; ``recover_stale`` marks
it UNCERTAIN for staff instead of sending it again, so a patron is never told twice.
"""

import datetime
import logging
import smtplib

from django.core.mail import EmailMultiAlternatives, mailers
from django.db.models import F, Q
from django.utils import timezone

from . import render, sms
from .models import Notice, State

log = logging.getLogger("emporter.notices")

MAX_ATTEMPTS = 12
STALE_AFTER = datetime.timedelta(minutes=10)


class PermanentFailure(Exception):
    pass


def backoff(attempts: int) -> datetime.timedelta:
    """1, 2, 4, … minutes, at most 6 hours between tries."""
    return datetime.timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def due(now=None):
    now = now or timezone.now()
    return Notice.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), state=State.PENDING
    )


def send_due(now=None, limit: int = 100) -> int:
    now = now or timezone.now()
    sent = 0
    for notice_id in due(now).order_by("created_at").values_list("pk", flat=True)[:limit]:
        sent += send_one(notice_id, now=now) == State.SENT
    return sent


def _claim(notice_id: int, now) -> bool:
    return bool(
        Notice.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), pk=notice_id, state=State.PENDING
        ).update(state=State.SENDING, attempts=F("attempts") + 1, next_attempt_at=now)
    )


def send_one(notice_id: int, now=None) -> str | None:
    now = now or timezone.now()
    if not _claim(notice_id, now):
        return None
    notice = Notice.objects.select_related("patron", "bag__branch").get(pk=notice_id)
    try:
        address = _deliver(notice)
    except PermanentFailure as error:
        return _record(notice, State.FAILED, error=str(error))
    except (smtplib.SMTPException, OSError) as error:
        if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500:
            return _record(notice, State.FAILED, error=f"{error.smtp_code} {error.smtp_error!r}")
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return _record(notice, State.FAILED, error=repr(error.recipients))
        if notice.attempts >= MAX_ATTEMPTS:
            return _record(notice, State.FAILED, error=f"gave up after {notice.attempts} attempts: {error!r}")
        return _record(
            notice, State.PENDING, error=repr(error), next_attempt_at=now + backoff(notice.attempts)
        )
    return _record(notice, State.SENT, sent_to=address, sent_at=timezone.now())


def _record(notice: Notice, state: str, *, error: str = "", **fields) -> str:
    Notice.objects.filter(pk=notice.pk, state=State.SENDING).update(state=state, last_error=error, **fields)
    if state != State.SENT:
        log.warning("notice %s: %s (%s)", notice.pk, state, error)
    return state


def _deliver(notice: Notice) -> str:
    rendered = render.render(notice)
    Notice.objects.filter(pk=notice.pk).update(subject=rendered.subject[:300])
    if notice.channel == "sms":
        if not notice.patron.phone:
            raise PermanentFailure("no phone number")
        sms.send(to=notice.patron.phone, text=rendered.subject)
        return notice.patron.phone
    if not notice.patron.email:
        raise PermanentFailure("no email address")
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        to=[notice.patron.email],
        headers={"Message-ID": f"<notice-{notice.pk}@emporter>"},
    )
    message.attach_alternative(rendered.html, "text/html")
    mailers.default.send_messages([message])
    return notice.patron.email


def recover_stale(now=None) -> int:
    """SENDING for too long means the worker died mid-send: we cannot know whether the
    server took the message, so we do not resend on our own."""
    now = now or timezone.now()
    return Notice.objects.filter(state=State.SENDING, next_attempt_at__lt=now - STALE_AFTER).update(
        state=State.UNCERTAIN, last_error="worker stopped while sending; check before resending"
    )


def resend(*, notice: Notice) -> bool:
    """Staff corrected the address (or checked an uncertain one): send again."""
    return bool(
        Notice.objects.filter(pk=notice.pk, state__in=[State.FAILED, State.UNCERTAIN]).update(
            state=State.PENDING, next_attempt_at=None, last_error=""
        )
    )
