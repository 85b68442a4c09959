"""Sending the outbox: retried with backoff, never dropped, never sent twice.

Each send is three steps, each committed on its own:
1. claim: PENDING → SENDING with a guarded UPDATE (two workers cannot both claim);
2. write the message, then hand it to the mail server (or SMS provider);
3. record: SENDING → SENT, or back to PENDING with a later attempt time if the server
   was down or answered 4xx, or FAILED for a permanent refusal (5xx, no address) or a
   message that could not be written.
A worker dying between 2 and 3 leaves the notice in SENDING; ``recover_stale`` marks
it UNCERTAIN for staff instead of sending it again, so a patron is never told twice.
What went wrong is stored as a code (``models.ERRORS``) and the server's own words.
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
    def __init__(self, code: str):
        self.code = code  # a key of models.ERRORS
        super().__init__(code)


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
        rendered = render.render(notice)
    except Exception as error:
        # Nothing has left yet, so FAILED (visible, resendable) is safe; left in
        # SENDING it would turn "uncertain" and the rest of the batch would not be sent.
        log.exception("notice %s could not be rendered", notice.pk)
        return _record(notice, State.FAILED, code="render_failed", error=render.describe(error))
    Notice.objects.filter(pk=notice.pk).update(subject=rendered.subject[:300])
    try:
        address = _deliver(notice, rendered)
    except PermanentFailure as failure:
        return _record(notice, State.FAILED, code=failure.code)
    except (smtplib.SMTPException, OSError) as error:
        return _record_smtp_error(notice, error, now)
    except Exception as error:
        # The provider failed in a way we do not know: it may have sent the message.
        log.exception("notice %s: unexpected error while sending", notice.pk)
        return _record(notice, State.UNCERTAIN, code="send_error", error=render.describe(error))
    return _record(
        notice,
        State.SENT,
        code="template_fallback" if rendered.fallback_reason else "",
        error=rendered.fallback_reason,
        sent_to=address,
        sent_at=timezone.now(),
    )


def _record_smtp_error(notice: Notice, error: Exception, now) -> str:
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500:
        return _record(notice, State.FAILED, code="refused", error=f"{error.smtp_code} {error.smtp_error!r}")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return _record(notice, State.FAILED, code="address_refused", error=repr(error.recipients))
    if notice.attempts >= MAX_ATTEMPTS:
        return _record(notice, State.FAILED, code="gave_up", error=repr(error))
    return _record(
        notice,
        State.PENDING,
        code="retrying",
        error=repr(error),
        next_attempt_at=now + backoff(notice.attempts),
    )


def _record(notice: Notice, state: str, *, code: str = "", error: str = "", **fields) -> str:
    Notice.objects.filter(pk=notice.pk, state=State.SENDING).update(
        state=state, error_code=code, last_error=error, **fields
    )
    if state != State.SENT or code:
        log.warning("notice %s: %s %s (%s)", notice.pk, state, code, error)
    return state


def _deliver(notice: Notice, rendered: render.Rendered) -> str:
    # The patron's own address, else their guardian's (render.recipient).
    to = render.recipient(notice)
    if notice.channel == "sms":
        if to is None:
            raise PermanentFailure("no_phone")
        sms.send(to=to.phone, text=rendered.subject)
        return to.phone
    if to is None:
        raise PermanentFailure("no_email")
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        to=[to.email],
        headers={"Message-ID": f"<notice-{notice.pk}@emporter>"},
    )
    message.attach_alternative(rendered.html, "text/html")
    mailers.default.send_messages([message])
    return to.email


def recover_stale(now=None) -> int:
    """SENDING for too long means the worker died mid-send: we cannot know whether the
    server took the message, so we do not resend on our own."""
    now = now or timezone.now()
    return Notice.objects.filter(state=State.SENDING, next_attempt_at__lt=now - STALE_AFTER).update(
        state=State.UNCERTAIN, error_code="worker_stopped", last_error=""
    )


def resend(*, notice: Notice) -> bool:
    """Staff corrected the address (or checked an uncertain one): send again."""
    return bool(
        Notice.objects.filter(pk=notice.pk, state__in=[State.FAILED, State.UNCERTAIN]).update(
            state=State.PENDING, next_attempt_at=None, error_code="", last_error=""
        )
    )
