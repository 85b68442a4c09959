"""Notices, from the twenty-fifth session's review: one "ready" email for a bag even when
a "no copy left" of the night waits to be told with it; an "expired" email held back by
mail trouble says nothing of documents lent at the door since; a text whose gateway
never answered is not sent again."""

import datetime

from django.core import mail
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.holds.bags import expire_overdue
from emporter.holds.models import RequestEvent, Status
from emporter.holds.services import close_waiting_without_copies, place_request
from emporter.notices import outbox, sms
from emporter.notices.compose import compose_all
from emporter.notices.models import Kind, Notice, State
from emporter.picking import services as picking
from tests.conftest import make_patron, make_ready_requests, make_record


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


def _expired_email_held_by_mail_trouble(patron, branch, titles):
    """A bag of ``titles`` expired in the night; its email, written at 9:05, waits for
    the mail server."""
    requests = make_ready_requests(patron, branch, titles)
    expire_overdue(today=requests[0].hold_until + datetime.timedelta(days=1))
    compose_all(now=_at(9, 5))
    expired = Notice.objects.get(kind=Kind.EXPIRED)
    Notice.objects.filter(pk=expired.pk).update(attempts=1, error_code="retrying", last_error="down")
    return requests, expired


def test_an_expired_email_held_back_is_not_sent_once_the_documents_were_lent(patron, branch):
    """Held by mail trouble, it still went after the librarian lent the documents still
    on the hold shelf: "they went back to the shelves" of books the patron had at home."""
    (request,), expired = _expired_email_held_by_mail_trouble(patron, branch, ["Le Horla"])
    (loan,) = desk.lend_expired(patron=patron, branch=branch, request_ids=[request.pk])
    outbox.send_due(timezone.now() + datetime.timedelta(minutes=5))
    expired.refresh_from_db()
    assert expired.state == State.SKIPPED and not mail.outbox


def test_an_expired_email_held_back_names_only_what_was_not_lent(patron, branch):
    requests, expired = _expired_email_held_by_mail_trouble(patron, branch, ["Le Horla", "Bel-Ami"])
    lent = next(r for r in requests if r.record.title == "Bel-Ami")
    desk.lend_expired(patron=patron, branch=branch, request_ids=[lent.pk])
    outbox.send_due(timezone.now() + datetime.timedelta(minutes=5))
    expired.refresh_from_db()
    (email,) = mail.outbox
    assert expired.state == State.SENT
    assert "Le Horla" in email.body and "Bel-Ami" not in email.body


class GatewayLostTheAnswer:
    """An SMS gateway that took the request, then timed out before answering: the text
    may have left (notices/sms.py: such a provider raises AnswerLost)."""

    def send(self, *, to, text):
        raise sms.AnswerLost("read timeout after 5 s")


def test_a_text_whose_gateway_never_answered_is_not_sent_again(settings, branch):
    """sms.py asked a provider to raise any timeout as an OSError: one after the request
    left was retried like any other, and the patron got the text twice (each billed). A
    provider now raises AnswerLost then: uncertain, for staff, with its own words."""
    settings.SMS_PROVIDER = "tests.test_s25_notices.GatewayLostTheAnswer"
    texter = make_patron(branch, card="50000001", phone="06 98 76 54 32", notice_channel="sms")
    place_request(
        patron=texter, record_id=make_record(title="Texto", copies=[branch]).pk, pickup_branch=branch
    )
    compose_all(now=timezone.now() + datetime.timedelta(minutes=2))  # the confirmation
    for minutes in (2, 5, 60, 600):
        outbox.send_due(timezone.now() + datetime.timedelta(minutes=minutes))
    notice = Notice.objects.get(patron=texter)
    assert (notice.state, notice.error_code) == (State.UNCERTAIN, "sms_answer_lost")
    assert notice.attempts == 1
