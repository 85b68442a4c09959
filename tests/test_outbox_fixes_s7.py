"""The outbox against mail server answers that used to drop or strand notices: a relay
refusing every address, a connection lost before the message started, a greylisting
after a long outage, and a late "ready" email whose bag is gone.

The bar: a mail server that is down or misconfigured delays a notice, it never drops it
nor sends it twice."""

import datetime
import socket
import threading

import pytest
from django.core import mail
from django.utils import timezone

from emporter.holds.models import Request
from emporter.holds.services import cancel_request, place_request
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, State
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record
from tests.test_outbox_robustness import later, not_stopping  # noqa: F401 (an autouse fixture)


def confirmations_to(branch, addresses: list[str]) -> list[Notice]:
    """One patron with one request per address, their confirmations composed."""
    for n, address in enumerate(addresses):
        patron = make_patron(branch, card=f"3100{n:04d}", email=address)
        place_request(
            patron=patron, record_id=make_record(title=f"Titre {n}", copies=[branch]).pk, pickup_branch=branch
        )
    compose.compose_all(later())
    return list(Notice.objects.order_by("created_at", "pk"))


def states() -> list[tuple[str, str]]:
    return list(Notice.objects.order_by("created_at", "pk").values_list("state", "error_code"))


def refuse_rcpt(smtp, answers: dict[str, str]) -> None:
    """The test server answers RCPT for these domains with these words."""
    recorder = smtp.recorder

    async def handle_RCPT(server, session, envelope, address, rcpt_options):
        answer = answers.get(address.rpartition("@")[2])
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    recorder.handle_RCPT = handle_RCPT


# 1. A refusal "for policy" (5.7.x) is not blamed on the address before it is known to be its.


def test_a_relay_refusing_every_address_stops_the_batch_and_blames_no_notice(smtp, branch):
    confirmations_to(branch, ["a@un.example", "b@deux.example", "c@trois.example", "d@quatre.example"])
    smtp.recorder.rcpt_answer = "554 5.7.1 Relay access denied"
    assert outbox.send_due(later()) == 0
    # Two domains refused: the server refuses us. The batch stopped; nobody failed.
    assert states() == [
        (State.PENDING, "server_refused"),
        (State.PENDING, "server_refused"),
        (State.PENDING, ""),
        (State.PENDING, ""),
    ]
    smtp.recorder.rcpt_answer = ""  # the administrator gave the relay its login
    assert outbox.send_due(later(hours=2)) == 4
    assert len(smtp.messages) == 4


def test_a_relay_refusing_us_for_more_than_a_week_gives_no_notice_up(smtp, branch):
    first, second = confirmations_to(branch, ["a@un.example", "b@deux.example"])
    smtp.recorder.rcpt_answer = "550 5.7.1 Relay access denied"
    # A week into the outage: the oldest notice met the refusal alone in its last batch.
    week_ago = timezone.now() - datetime.timedelta(days=8)
    Notice.objects.filter(pk=first.pk).update(deferred_since=week_ago, error_code="policy_refused")
    Notice.objects.filter(pk=second.pk).update(error_code="server_refused")
    outbox.send_due(later())
    assert states() == [(State.PENDING, "server_refused"), (State.PENDING, "server_refused")]
    assert set(Notice.objects.values_list("deferred_since", flat=True)) == {None}


def test_an_address_refused_for_policy_is_retried_then_given_up_after_a_week(smtp, branch):
    refused, _, also_refused = confirmations_to(
        branch, ["a@strict.example", "b@ok.example", "c@strict.example"]
    )
    refuse_rcpt(smtp, {"strict.example": "550 5.7.1 Message rejected by policy"})
    assert outbox.send_due(later()) == 1
    # One domain refuses us, the others take their mail: the batch went on.
    assert states() == [
        (State.PENDING, "policy_refused"),
        (State.SENT, ""),
        (State.PENDING, "policy_refused"),
    ]
    refused.refresh_from_db()
    assert refused.deferred_since is not None
    Notice.objects.filter(pk__in=[refused.pk, also_refused.pk]).update(
        deferred_since=timezone.now() - datetime.timedelta(days=8)
    )
    outbox.send_due(later(hours=2))
    assert states() == [(State.FAILED, "gave_up"), (State.SENT, ""), (State.FAILED, "gave_up")]
    refused.refresh_from_db()
    assert "5.7.1" in refused.last_error
    assert len(smtp.messages) == 1


def test_a_refusal_after_the_message_for_our_spf_stops_the_batch(smtp, branch):
    confirmations_to(branch, ["a@un.example", "b@deux.example", "c@trois.example"])
    recorder = smtp.recorder

    async def spf_fails(server, session, envelope):
        recorder.data_seen += 1
        return "550 5.7.23 SPF validation failed"

    recorder.handle_DATA = spf_fails
    assert outbox.send_due(later()) == 0
    assert states() == [
        (State.PENDING, "server_refused"),
        (State.PENDING, "server_refused"),
        (State.PENDING, ""),
    ]
    del recorder.handle_DATA  # the administrator published the SPF record
    assert outbox.send_due(later(hours=2)) == 3


def test_an_unknown_address_still_fails_at_once(smtp, branch):
    confirmations_to(branch, ["nobody@un.example", "b@deux.example"])
    refuse_rcpt(smtp, {"un.example": "550 5.1.1 No such user"})
    assert outbox.send_due(later()) == 1
    assert states() == [(State.FAILED, "address_refused"), (State.SENT, "")]


# 2. A connection lost before the server said "go ahead" (354) sent nothing: retried.


class RawServer:
    """Greets and takes MAIL and RCPT, then, on DATA, hangs up (``drop``) or never
    answers (``hang``)."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.release = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def mailers_setting(self, timeout: float):
        options = {"host": "127.0.0.1", "port": self.port, "timeout": timeout}
        return {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}

    def stop(self):
        self.release.set()
        self.sock.close()

    def _serve(self):
        try:
            connection, _ = self.sock.accept()
        except OSError:
            return
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 raw\r\n")
            for line in lines:
                if line[:4].upper() == b"DATA":
                    if self.mode == "hang":
                        self.release.wait(10)
                    return
                connection.sendall(b"221 bye\r\n" if line[:4].upper() == b"QUIT" else b"250 OK\r\n")


@pytest.mark.parametrize("mode", ["drop", "hang"])
def test_a_connection_lost_before_the_message_started_is_retried(settings, smtp, branch, mode):
    (notice,) = confirmations_to(branch, ["a@un.example"])
    raw = RawServer(mode)
    settings.MAILERS = raw.mailers_setting(timeout=1)
    try:
        assert outbox.send_due(later()) == 0
    finally:
        raw.stop()
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.PENDING, "retrying")
    settings.MAILERS = smtp.mailers_setting()
    assert outbox.send_due(notice.next_attempt_at + datetime.timedelta(seconds=1)) == 1
    assert len(smtp.messages) == 1


# 3. The week before giving up a "later" counts from the first "later", not from creation.


def test_a_notice_that_waited_out_an_outage_is_not_given_up_at_its_first_greylisting(smtp, branch):
    (notice,) = confirmations_to(branch, ["a@un.example"])
    Notice.objects.filter(pk=notice.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=8), error_code="retrying", attempts=150
    )
    smtp.recorder.rcpt_answer = "450 4.2.0 Greylisted, try again later"
    outbox.send_due(later())
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.PENDING, "deferred")
    first_deferral = notice.deferred_since
    assert first_deferral is not None
    outbox.send_due(notice.next_attempt_at + datetime.timedelta(seconds=1))
    notice.refresh_from_db()
    assert notice.deferred_since == first_deferral  # the same run of "later"
    smtp.recorder.rcpt_answer = ""
    assert outbox.send_due(notice.next_attempt_at + datetime.timedelta(seconds=1)) == 1


def test_a_server_down_between_two_laters_starts_the_week_again(settings, smtp, branch):
    (notice,) = confirmations_to(branch, ["a@un.example"])
    Notice.objects.filter(pk=notice.pk).update(
        error_code="deferred", deferred_since=timezone.now() - datetime.timedelta(days=6)
    )
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": smtp.port, "timeout": 1},
        }
    }
    smtp.stop()  # down for a while
    outbox.send_due(later())
    notice.refresh_from_db()
    assert (notice.state, notice.error_code, notice.deferred_since) == (State.PENDING, "retrying", None)


def test_a_notice_deferred_for_a_week_is_given_up_and_a_resend_starts_afresh(smtp, branch):
    (notice,) = confirmations_to(branch, ["a@un.example"])
    smtp.recorder.rcpt_answer = "452 4.2.2 Mailbox full"
    Notice.objects.filter(pk=notice.pk).update(deferred_since=timezone.now() - datetime.timedelta(days=8))
    outbox.send_due(later())
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.FAILED, "gave_up")
    assert outbox.resend(notice=notice)
    outbox.send_due(later(minutes=1))
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.PENDING, "deferred")


# 4. A late "ready" email whose documents are gone tells only what could not be found.


@pytest.fixture
def locmem(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def found_and_lost(patron, branch) -> tuple[Request, Notice]:
    """One document found, one not: a "ready" email (for both) composed, not sent yet."""
    found = place_request(
        patron=patron, record_id=make_record(title="Trouvé", copies=[branch]).pk, pickup_branch=branch
    )[0]
    lost = place_request(
        patron=patron, record_id=make_record(title="Perdu", copies=[branch]).pk, pickup_branch=branch
    )[0]
    compose.compose_all(later())
    Notice.objects.all().delete()  # the confirmation: not what is looked at here
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        if line.request_id == lost.pk:
            picking.mark_not_found(line=line, reason="absent")
        else:
            picking.mark_found(line=line)
    compose.compose_all(later(hours=4))
    found.refresh_from_db()
    return found, Notice.objects.get(kind=Kind.READY)


def test_a_late_ready_email_whose_document_was_cancelled_tells_only_what_was_not_found(
    locmem, patron, branch
):
    found, ready = found_and_lost(patron, branch)
    label = found.bag.label
    cancel_request(request=found)  # before the (late) email could go
    assert outbox.send_due(later(hours=4)) == 1
    (message,) = mail.outbox
    assert "Perdu" in message.body
    assert "Trouvé" not in message.body
    assert label not in message.body and label not in message.subject
    assert message.subject == "Nous n’avons pas trouvé votre document"
    ready.refresh_from_db()
    assert ready.state == State.SENT
    assert ready.subject == message.subject


def test_a_late_ready_email_whose_deadline_has_passed_tells_only_what_was_not_found(locmem, patron, branch):
    found, _ = found_and_lost(patron, branch)
    Request.objects.filter(pk=found.pk).update(hold_until=timezone.localdate() - datetime.timedelta(days=1))
    assert outbox.send_due(later(hours=4)) == 1
    (message,) = mail.outbox
    assert "Perdu" in message.body and "Trouvé" not in message.body


def test_a_ready_email_in_time_still_tells_both(locmem, patron, branch):
    found, _ = found_and_lost(patron, branch)
    assert outbox.send_due(later(hours=4)) == 1
    (message,) = mail.outbox
    assert "Perdu" in message.body and "Trouvé" in message.body and found.bag.label in message.body


# 5. A Message-ID of the site's own domain, unique, the same at every attempt.


def test_the_message_id_is_of_the_sites_domain_and_the_same_at_every_attempt(settings, smtp, branch):
    settings.SITE_URL = "https://bibliotheque.example"
    first, second = confirmations_to(branch, ["a@un.example", "b@deux.example"])
    smtp.recorder.rcpt_answer = "450 4.2.0 Greylisted, try again later"
    outbox.send_due(later())
    first.refresh_from_db()
    assert first.message_id.endswith("@bibliotheque.example>")
    smtp.recorder.rcpt_answer = ""
    assert outbox.send_due(later(hours=1)) == 2
    sent = {str(message["To"]): str(message["Message-ID"]).strip() for _, message in smtp.messages}
    second.refresh_from_db()
    assert sent == {"a@un.example": first.message_id, "b@deux.example": second.message_id}
    assert first.message_id != second.message_id
