"""The outbox against real mail server trouble: a notice is delayed, never dropped nor
doubled, and the server's faults are never blamed on the notice.

Every test talks to a real SMTP server (aiosmtpd, tests/smtp.py) that can greylist,
refuse our sender, answer late, or be down."""

import datetime
import os
import signal
import threading

import pytest
from django.core.management import call_command
from django.utils import timezone

from emporter.holds.services import cancel_request, make_ready, place_request
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, State
from tests.conftest import make_patron, make_record
from tests.smtp import SmtpServer


@pytest.fixture(autouse=True)
def not_stopping():
    outbox.stop_requested.clear()
    yield
    outbox.stop_requested.clear()


def later(**delta):
    return timezone.now() + datetime.timedelta(minutes=5) + datetime.timedelta(**delta)


def confirmations_for(branch, count: int) -> list[Notice]:
    """``count`` patrons with one request each, their confirmations composed."""
    for n in range(count):
        patron = make_patron(branch, card=f"3000{n:04d}", email=f"lecteur{n}@example.org")
        place_request(
            patron=patron, record_id=make_record(title=f"Titre {n}", copies=[branch]).pk, pickup_branch=branch
        )
    compose.compose_all(later())
    return list(Notice.objects.order_by("created_at", "pk"))


def states() -> list[tuple[str, str]]:
    return list(Notice.objects.order_by("created_at", "pk").values_list("state", "error_code"))


def test_greylisting_delays_the_notice_and_a_refused_address_fails_it(smtp, branch):
    (notice,) = confirmations_for(branch, 1)
    smtp.recorder.rcpt_answer = "450 4.2.0 Greylisted, try again later"
    assert outbox.send_due(later()) == 0
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.PENDING, "deferred")
    smtp.recorder.rcpt_answer = ""
    assert outbox.send_due(notice.next_attempt_at + datetime.timedelta(seconds=1)) == 1
    assert len(smtp.messages) == 1

    patron = make_patron(branch, card="30008888", email="inconnu@example.org")
    place_request(
        patron=patron, record_id=make_record(title="Autre", copies=[branch]).pk, pickup_branch=branch
    )
    compose.compose_all(later(minutes=1))
    notice = Notice.objects.get(patron=patron)
    smtp.recorder.rcpt_answer = "550 5.1.1 No such user"
    outbox.send_due(later(minutes=1))
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.FAILED, "address_refused")


def test_a_refused_sender_is_our_settings_fault_not_the_notices(smtp, branch):
    notices = confirmations_for(branch, 3)
    smtp.recorder.mail_answer = "530 5.7.0 Authentication required"
    assert outbox.send_due(later()) == 0
    # The first notice met the fault; the batch stopped there instead of failing them all.
    assert states() == [(State.PENDING, "server_refused"), (State.PENDING, ""), (State.PENDING, "")]
    assert [n.attempts for n in Notice.objects.order_by("created_at", "pk")] == [1, 0, 0]
    smtp.recorder.mail_answer = ""  # the administrator fixed the settings
    assert outbox.send_due(later(hours=1)) == 3
    assert len(smtp.messages) == 3
    assert {n.state for n in Notice.objects.all()} == {State.SENT}
    notices[0].refresh_from_db()
    assert notices[0].error_code == ""


def test_a_server_down_all_weekend_delays_notices_until_it_is_back(settings, branch):
    server = SmtpServer()
    settings.MAILERS = server.mailers_setting(timeout=1)  # nothing listens yet
    (notice,) = confirmations_for(branch, 1)
    moment = later()
    for _ in range(60):  # about 60 hours of tries: never given up
        outbox.send_due(moment)
        notice.refresh_from_db()
        assert notice.state == State.PENDING
        assert notice.next_attempt_at - moment <= datetime.timedelta(minutes=outbox.BACKOFF_CAP_MINUTES)
        moment = notice.next_attempt_at + datetime.timedelta(seconds=1)
    assert notice.attempts == 60
    assert notice.error_code == "retrying"
    server.start()
    try:
        assert outbox.send_due(moment) == 1
        assert outbox.send_due(moment + datetime.timedelta(days=1)) == 0
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_a_long_batch_does_not_make_the_notice_being_sent_look_abandoned(smtp, branch, monkeypatch):
    confirmations_for(branch, 2)
    start = later()
    clock = [start]
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: max(clock[0], real_now()))
    real_deliver = outbox._deliver
    stale_seen = []

    def slow_deliver(notice, rendered, batch):
        # Another scheduler looks for abandoned sends while this one is sending.
        stale_seen.append(outbox.recover_stale(clock[0]))
        address = real_deliver(notice, rendered, batch)
        clock[0] += datetime.timedelta(minutes=11)  # each send is slow
        return address

    monkeypatch.setattr(outbox, "_deliver", slow_deliver)
    assert outbox.send_due(start) == 2
    assert stale_seen == [0, 0]
    assert states() == [(State.SENT, ""), (State.SENT, "")]
    assert len(smtp.messages) == 2


def test_a_connection_lost_while_the_server_takes_the_message_is_uncertain_not_resent(
    settings, smtp, branch, monkeypatch
):
    settings.MAILERS = smtp.mailers_setting(timeout=1)
    monkeypatch.setattr(outbox, "FINAL_REPLY_TIMEOUT", 1)
    (notice,) = confirmations_for(branch, 1)
    smtp.recorder.data_delay = 2  # the answer comes after our timeout; the mail arrives
    assert outbox.send_due(later()) == 0
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.UNCERTAIN, "lost_during_data")
    smtp.recorder.data_delay = 0
    assert outbox.send_due(later(hours=2)) == 0
    assert smtp.recorder.data_seen == 1  # handed over once, and never a second time


def test_a_server_scanning_a_message_longer_than_each_step_may_take_is_waited_for(
    settings, smtp, branch, monkeypatch
):
    # EMAIL_TIMEOUT bounded the wait for the message's answer too: delivered messages were
    # left "uncertain" when the server scanned them a little longer (RFC 5321 allows 10 min).
    settings.MAILERS = smtp.mailers_setting(timeout=1)
    monkeypatch.setattr(outbox, "FINAL_REPLY_TIMEOUT", 4)
    notices = confirmations_for(branch, 2)
    smtp.recorder.data_delay = 1.5
    assert outbox.send_due(later()) == 2
    assert [n.state for n in Notice.objects.filter(pk__in=[n.pk for n in notices])] == [State.SENT] * 2


def test_one_connection_for_a_batch(smtp, branch):
    confirmations_for(branch, 3)
    assert outbox.send_due(later()) == 3
    assert smtp.recorder.connections == 1
    assert len(smtp.messages) == 3


def test_a_pass_sends_batch_after_batch_while_its_time_lasts_on_one_connection(smtp, branch):
    """A busy morning is not sent 100 notices every 15 seconds: a pass goes on while
    notices are due and its time lasts; a pass with no time sends one batch."""
    confirmations_for(branch, 5)
    assert outbox.send_due(later(), limit=2) == 2
    assert outbox.send_due(later(), limit=2, seconds=60) == 3
    assert smtp.recorder.connections == 2  # one a pass
    assert [state for state, _ in states()] == [State.SENT] * 5


def test_a_pass_stops_at_the_end_of_its_time_even_within_a_batch(smtp, branch, monkeypatch):
    """A slow mail server: the time is looked at between notices, not only between batches."""
    confirmations_for(branch, 5)
    clock = iter(range(0, 1000, 10))  # each look at the clock: ten seconds later
    monkeypatch.setattr(outbox, "_clock", lambda: next(clock))
    assert outbox.send_due(later(), limit=10, seconds=15) == 2  # started at 0; 10: one more; 20: stop
    assert [state for state, _ in states()].count(State.PENDING) == 3


def test_a_ready_email_for_a_bag_no_longer_waiting_is_not_sent(smtp, patron, branch):
    record = make_record(title="Déjà repris", copies=[branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    Notice.objects.all().delete()
    make_ready(request=request)
    compose.compose_all(later(hours=4))
    ready = Notice.objects.get(kind=Kind.READY)
    cancel_request(request=request)  # before the (late) email could go
    outbox.send_due(later(hours=4))
    ready.refresh_from_db()
    assert (ready.state, ready.error_code) == (State.SKIPPED, "outdated")
    assert not [m for _, m in smtp.messages if "prêt" in m["Subject"].lower()]
    assert not outbox.resend(notice=ready)  # nothing to resend: it would tell of nothing


def test_an_address_that_cannot_be_written_fails_visibly_and_sends_nothing(smtp, branch):
    patron = make_patron(branch, card="30009999", email="josé@example.org")
    place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    compose.compose_all(later())
    outbox.send_due(later())
    notice = Notice.objects.get()
    assert (notice.state, notice.error_code) == (State.FAILED, "bad_address")
    assert smtp.messages == []


def test_a_stop_request_ends_the_batch_after_the_notice_being_sent(smtp, branch, monkeypatch):
    confirmations_for(branch, 3)
    real_deliver = outbox._deliver

    def deliver_then_stop(notice, rendered, batch):
        address = real_deliver(notice, rendered, batch)
        outbox.stop_requested.set()  # SIGTERM arrives during the first send
        return address

    monkeypatch.setattr(outbox, "_deliver", deliver_then_stop)
    assert outbox.send_due(later()) == 1
    assert states() == [(State.SENT, ""), (State.PENDING, ""), (State.PENDING, "")]


def test_sigterm_stops_the_scheduler_between_jobs(db):
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM))
    previous = signal.getsignal(signal.SIGTERM)
    timer.start()
    try:
        call_command("run_scheduler", "--tick", "0.05")  # returns only once stopped
    finally:
        timer.cancel()
    assert outbox.stop_requested.is_set()
    assert signal.getsignal(signal.SIGTERM) == previous  # handlers given back


def test_an_address_deferred_for_a_week_fails_visibly(smtp, branch):
    (notice,) = confirmations_for(branch, 1)
    smtp.recorder.rcpt_answer = "452 4.2.2 Mailbox full"
    outbox.send_due(later())
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.PENDING, "deferred")
    Notice.objects.filter(pk=notice.pk).update(deferred_since=timezone.now() - datetime.timedelta(days=8))
    outbox.send_due(notice.next_attempt_at + datetime.timedelta(seconds=1))
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.FAILED, "gave_up")
    assert "452" in notice.last_error


def test_a_late_ready_email_that_also_tells_of_a_document_not_found_still_goes(smtp, patron, branch):
    from emporter.picking import services as picking

    found = place_request(
        patron=patron, record_id=make_record(title="Trouvé", copies=[branch]).pk, pickup_branch=branch
    )[0]
    lost = place_request(
        patron=patron, record_id=make_record(title="Perdu", copies=[branch]).pk, pickup_branch=branch
    )[0]
    Notice.objects.all().delete()
    run = picking.build_run(branch=branch, kind="late")
    for line in run.lines.all():
        if line.request_id == lost.pk:
            picking.mark_not_found(line=line, reason="absent")
        else:
            picking.mark_found(line=line)
    compose.compose_all(later(hours=4))
    ready = Notice.objects.get(kind=Kind.READY)
    found.refresh_from_db()
    cancel_request(request=found)  # the bag is over before the (late) email goes
    outbox.send_due(later(hours=4))
    ready.refresh_from_db()
    assert ready.state == State.SENT


def test_a_server_closing_at_rcpt_is_the_servers_fault_not_the_address(smtp, branch):
    notices = confirmations_for(branch, 3)
    smtp.recorder.rcpt_answer = "421 4.3.2 Service shutting down"
    outbox.send_due(later())
    states = {(n.state, n.error_code) for n in Notice.objects.filter(pk__in=[n.pk for n in notices])}
    # The first is put back as a server fault and the batch stops: the others wait untouched.
    assert states == {(State.PENDING, "retrying"), (State.PENDING, "")}
    assert Notice.objects.filter(deferred_since__isnull=False).count() == 0
