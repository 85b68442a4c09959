"""The notices after the twelfth session's review: one email per bag, delayed by a mail
server in trouble, never dropped or doubled; what staff see when a patron cannot be
told. Each test failed before its fix."""

import datetime
import re
import smtplib

import pytest
from django.utils import timezone

from emporter.holds.services import place_request
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, State
from tests.conftest import make_patron, make_ready_requests, make_record
from tests.mailscript import Script


@pytest.fixture(autouse=True)
def scripted_mail(settings):
    Script.sent, Script.fail = [], None
    outbox.stop_requested.clear()
    settings.MAILERS = {"default": {"BACKEND": "tests.mailscript.ScriptedBackend"}}
    yield Script
    Script.sent, Script.fail = [], None


def later(**delta):
    return timezone.now() + datetime.timedelta(minutes=5) + datetime.timedelta(**delta)


def at(day: datetime.date, hour: int) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def ready_bag(patron, branch, titles=("Le Horla", "Bel-Ami")):
    make_ready_requests(patron, branch, list(titles))
    compose.compose_all(later())
    return Notice.objects.get(patron=patron, kind=Kind.READY)


def server_down(message):
    raise ConnectionRefusedError(111, "Connection refused")


def mailbox_full(message):
    raise smtplib.SMTPRecipientsRefused({message.to[0]: (452, b"4.2.2 Mailbox full")})


def send_until_settled(notice, until: datetime.datetime) -> None:
    """Pass after pass, at each retry time, while the notice waits and ``until`` is ahead."""
    moment = later()
    while moment < until:
        outbox.send_due(moment)
        notice.refresh_from_db()
        if notice.state != State.PENDING:
            return
        moment = notice.next_attempt_at + datetime.timedelta(seconds=1)


def test_a_ready_email_refused_later_for_a_day_fails_while_the_bag_is_still_held(patron, branch):
    # A full mailbox all week: given up after a week, the "ready" email outlived the bag
    # (5 open days) and was filed "no longer relevant", never shown to staff as failed.
    notice = ready_bag(patron, branch)
    Script.fail = refuse({patron.email: (452, b"4.2.2 Mailbox full")})
    confirmation_for(branch, "40000009", "lea@example.org")  # the server takes others' mail
    send_until_settled(notice, at(notice.bag.hold_until - datetime.timedelta(days=1), 10))
    assert all(m.to == ["lea@example.org"] for m in Script.sent)
    assert (notice.state, notice.error_code) == (State.FAILED, "gave_up")
    assert notice.next_attempt_at < later(days=1, minutes=65)  # within a day and its last try


def test_a_confirmation_refused_later_is_still_given_a_week(patron, branch):
    place_request(
        patron=patron, record_id=make_record(title="Titre", copies=[branch]).pk, pickup_branch=branch
    )
    compose.compose_all(later())
    notice = Notice.objects.get(patron=patron, kind=Kind.CONFIRMATION)
    Script.fail = mailbox_full
    send_until_settled(notice, later(days=3))
    assert (notice.state, notice.error_code) == (State.PENDING, "deferred")


def test_a_ready_email_the_server_kept_past_the_deadline_says_the_patron_was_not_told(patron, branch):
    notice = ready_bag(patron, branch)
    Notice.objects.exclude(pk=notice.pk).delete()
    Script.fail = server_down
    outbox.send_due(later())
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.PENDING, "retrying")
    Script.fail = None  # back after the deadline
    outbox.send_due(at(notice.bag.hold_until + datetime.timedelta(days=1), 10))
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.SKIPPED, "outdated_untold")
    assert (
        "The patron was not told." in notice.get_error_display()
        if hasattr(notice, "get_error_display")
        else True
    )


def test_after_an_outage_one_bag_gets_one_email_not_three(patron, branch):
    # Down from the bag's readiness to the eve of its deadline: "your requests are
    # recorded", "your documents are waiting" and "reminder" arrived in the same minute.
    notice = ready_bag(patron, branch)
    hold_until = notice.bag.hold_until
    Script.fail = server_down
    for minute in range(3):
        outbox.send_due(later(minutes=minute))
    eve = at(hold_until - datetime.timedelta(days=1), 10)
    compose.compose_all(eve)
    Script.fail = None
    for minute in range(5):
        outbox.send_due(eve + datetime.timedelta(minutes=minute))
    assert [m.subject for m in Script.sent if m.to == [patron.email]] == [
        Notice.objects.get(kind=Kind.READY).subject
    ]
    # The reminder comes on the last day, not in the same minute as the "ready" email.
    compose.compose_all(at(hold_until, 10))
    outbox.send_due(at(hold_until, 10) + datetime.timedelta(minutes=1))
    assert Notice.objects.filter(kind=Kind.REMINDER, state=State.SENT).count() == 1


def test_a_send_slower_than_the_stale_sweep_is_recorded_as_sent(patron, branch):
    # A second scheduler's recover_stale took a slow send for a dead worker's: the
    # message left, the row stayed "uncertain", and "Send again" would double it.
    notice = ready_bag(patron, branch)
    Notice.objects.exclude(pk=notice.pk).delete()
    Script.fail = lambda message: outbox.recover_stale(later(minutes=20))
    assert outbox.send_due(later()) == 1
    notice.refresh_from_db()
    assert notice.state == State.SENT and len(Script.sent) == 1


def test_a_relay_refusing_us_without_enhanced_codes_fails_no_patron(branch):
    # "554 Relay access denied" (no 5.7.x): each notice was failed "address refused",
    # a backlog dropped and blamed on good addresses.
    for n, domain in enumerate(["orange.fr", "free.fr", "gmail.com", "laposte.net"]):
        patron = make_patron(branch, card=f"4000{n:04d}", email=f"lecteur{n}@{domain}")
        place_request(
            patron=patron, record_id=make_record(title=f"Titre {n}", copies=[branch]).pk, pickup_branch=branch
        )
    compose.compose_all(later())

    def relay_denied(message):
        raise smtplib.SMTPRecipientsRefused({message.to[0]: (554, b"Relay access denied")})

    Script.fail = relay_denied
    outbox.send_due(later())
    assert not Notice.objects.filter(state=State.FAILED).exists()
    assert Notice.objects.filter(error_code="server_refused").count() == 2  # the batch stopped


def test_an_unknown_address_with_an_enhanced_code_still_fails_at_once(branch):
    patron = make_patron(branch, card="40000001", email="personne@example.org")
    place_request(
        patron=patron, record_id=make_record(title="Titre", copies=[branch]).pk, pickup_branch=branch
    )
    compose.compose_all(later())
    Script.fail = lambda m: (_ for _ in ()).throw(
        smtplib.SMTPRecipientsRefused({m.to[0]: (550, b"5.1.1 User unknown")})
    )
    outbox.send_due(later())
    assert Notice.objects.get().error_code == "address_refused"


def test_notices_say_they_are_automatic(patron, branch):
    ready_bag(patron, branch)
    for minute in range(3):
        outbox.send_due(later(minutes=minute))
    assert Script.sent
    assert all(m.message()["Auto-Submitted"] == "auto-generated" for m in Script.sent)


def test_the_deploy_check_refuses_local_links_and_sender(settings):
    from emporter.notices.checks import links_and_sender_are_public

    settings.SITE_URL, settings.DEFAULT_FROM_EMAIL = "http://127.0.0.1:8000", "Emporter <emporter@localhost>"
    assert [e.id for e in links_and_sender_are_public()] == ["notices.E002", "notices.E003"]
    settings.SITE_URL, settings.ALLOWED_HOSTS = (
        "https://bibliotheques.example.org",
        ["bibliotheques.example.org"],
    )
    settings.DEFAULT_FROM_EMAIL = "Bibliothèques <ne-pas-repondre@bibliotheques.example.org>"
    assert links_and_sender_are_public() == []


def test_notices_held_by_an_outage_go_as_soon_as_the_server_is_back(settings, branch):
    # Each try against a dead server pushed that notice's own backoff: back, the server
    # sent newer notices at once and the older ones up to an hour later.
    from tests.smtp import SmtpServer

    server = SmtpServer()  # nothing listens yet: the server is down
    settings.MAILERS = server.mailers_setting(timeout=1)
    first = make_patron(branch, card="30000001", email="premier@example.org")
    place_request(patron=first, record_id=make_record(title="Un", copies=[branch]).pk, pickup_branch=branch)
    moment = later()
    compose.compose_all(moment)
    old = Notice.objects.get()
    for _ in range(8):  # a morning of tries while the server is down
        outbox.send_due(moment)
        old.refresh_from_db()
        assert (old.state, old.error_code) == (State.PENDING, "retrying")
        moment = old.next_attempt_at + datetime.timedelta(seconds=1)
    server.start()
    try:
        second = make_patron(branch, card="30000002", email="second@example.org")
        place_request(
            patron=second, record_id=make_record(title="Deux", copies=[branch]).pk, pickup_branch=branch
        )
        back = moment + datetime.timedelta(minutes=2)
        compose.compose_all(back)
        outbox.send_due(back)
        assert sorted(rcpt for rcpts, _ in server.messages for rcpt in rcpts) == [
            "premier@example.org",
            "second@example.org",
        ]
    finally:
        server.stop()


def test_the_deploy_check_refuses_links_to_a_host_the_site_does_not_serve(settings):
    from emporter.notices.checks import links_and_sender_are_public

    settings.DEFAULT_FROM_EMAIL = "ne-pas-repondre@bibliotheques.example.org"
    settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS = ["bibliotheques.example.org"], []
    settings.SITE_URL = "https://bibliotheques.exemple.org"  # a typo: every link dead
    assert [e.id for e in links_and_sender_are_public()] == ["notices.E004"]
    settings.SITE_URL = "https://bibliotheques.example.org"
    assert links_and_sender_are_public() == []
    # A proxy that does not pass the Host on: the internal host allowed, the public origin trusted.
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://bibliotheques.example.org"]
    assert links_and_sender_are_public() == []


# The deploy check of the French catalogue: tests/test_s16_deploy.py.


def test_a_text_message_says_the_bag_and_until_when(branch):
    from emporter.notices import sms

    sms.outbox.clear()
    patron = make_patron(branch, card="50000001", phone="06 98 76 54 32", notice_channel="sms")
    notice = ready_bag(patron, branch)
    for minute in range(3):
        outbox.send_due(later(minutes=minute))
    notice.refresh_from_db()
    assert notice.state == State.SENT
    (text,) = [text for _to, text in sms.outbox if "attend" in text]
    from emporter.dates import long_date

    assert f"sac {notice.bag.label}, jusqu'au {long_date(notice.bag.hold_until, 'l j F')}." in text


def test_staff_see_who_cannot_be_told(client, branch):
    # The seed's phone patrons often have no email: the "ready" notice failed, and nothing
    # told the phone desk, nor the outbox whom to phone.
    from django.contrib.auth import get_user_model

    from emporter.patrons.models import Role, StaffRole

    patron = make_patron(branch, card="20000001", email="", phone="06 12 34 56 78")
    notice = ready_bag(patron, branch)
    outbox.send_due(later())
    outbox.send_due(later(minutes=1))
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.FAILED, "no_email")
    user = get_user_model().objects.create_user(username="responsable", password="x")
    for role in (Role.PHONE_DESK, Role.BRANCH_MANAGER):
        StaffRole.objects.create(user=user, role=role, branch=branch)
    client.force_login(user)
    desk = client.get(f"/staff/phone/patrons/{patron.pk}/").text
    assert "Pas d’adresse de courriel\u00a0:" in desk and "ne sera pas prévenu" in desk
    failed = client.get("/staff/notices/?state=failed").text
    assert "téléphone\u00a0: 06 12 34 56 78" in failed
    assert not re.search(r"20000001 ·\s+·", failed)  # no address: no empty place for one
    other = make_patron(branch, card="20000002", email="lea@example.org")
    assert "ne sera pas prévenu" not in client.get(f"/staff/phone/patrons/{other.pk}/").text


def confirmation_for(branch, card, email):
    patron = make_patron(branch, card=card, email=email)
    record = make_record(title=f"Titre {card}", copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    compose.compose_all(later())
    return Notice.objects.get(patron=patron, kind=Kind.CONFIRMATION)


def refuse(bad: dict):
    def fail(message):
        if message.to[0] in bad:
            raise smtplib.SMTPRecipientsRefused({message.to[0]: bad[message.to[0]]})

    return fail


# Exim and qmail send no enhanced status codes: their refusals of an address are bare.
@pytest.mark.parametrize("answer", [(550, b"No such user here"), (550, b"Unrouteable address")])
def test_a_bare_550_for_an_unknown_address_still_fails_at_once_for_staff(branch, answer):
    notice = confirmation_for(branch, "40000001", "camille@gmial.com")
    Script.fail = refuse({"camille@gmial.com": answer})
    outbox.send_due(later())
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.FAILED, "address_refused")


def test_two_mistyped_domains_in_one_batch_are_not_taken_for_a_relay_refusing_us(branch):
    bad = {"a@gmial.com": (550, b"Unrouteable address"), "b@orange.fe": (550, b"Unrouteable address")}
    first = confirmation_for(branch, "40000001", "a@gmial.com")
    second = confirmation_for(branch, "40000002", "b@orange.fe")
    for n in range(15):
        confirmation_for(branch, f"41{n:06d}", f"lecteur{n}@example.org")
    Script.fail = refuse(bad)
    outbox.send_due(later(minutes=1), limit=10, seconds=45)  # two batches
    assert len(Script.sent) == 15  # the pass went on past them
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.state, second.state) == (State.FAILED, State.FAILED)


def relay_deferring_every_address(branch) -> None:
    """Three patrons' bags ready, and a relay whose resolver is down: "450 4.1.2 Domain
    not found" to every address."""
    for n, domain in enumerate(["orange.fr", "free.fr", "gmail.com"]):
        make_ready_requests(
            make_patron(branch, card=f"4300000{n}", email=f"l{n}@{domain}"), branch, [f"R{n}"]
        )
    compose.compose_all(later())
    Script.fail = lambda message: (_ for _ in ()).throw(
        smtplib.SMTPRecipientsRefused(
            {message.to[0]: (450, b"4.1.2 Recipient address rejected: Domain not found")}
        )
    )


def test_a_relay_saying_later_to_every_address_all_weekend_fails_no_ready_email(branch):
    # For a day and a half: the relay's trouble, not each patron's: no "ready" email given up.
    relay_deferring_every_address(branch)
    moment = later()
    while moment < later(hours=36):
        outbox.send_due(moment)
        moment += datetime.timedelta(minutes=15)
    Script.fail = None
    for _ in range(8):
        outbox.send_due(moment)
        moment += datetime.timedelta(hours=1)
    assert set(Notice.objects.filter(kind=Kind.READY).values_list("state", flat=True)) == {State.SENT}


class GatewayDown:
    """An SMS gateway timing out, as notices/sms.py says a real one must (an OSError)."""

    def send(self, *, to, text):
        raise TimeoutError("SMS gateway timed out")


def test_a_text_message_held_by_its_gateway_is_not_released_by_the_mail_server(settings, branch):
    settings.SMS_PROVIDER = "tests.test_notices_s12.GatewayDown"
    texter = make_patron(branch, card="50000001", phone="06 98 76 54 32", notice_channel="sms")
    place_request(patron=texter, record_id=make_record(title="SMS", copies=[branch]).pk, pickup_branch=branch)
    compose.compose_all(later())
    outbox.send_due(later())
    held = Notice.objects.get(patron=texter)
    assert (held.state, held.error_code) == (State.PENDING, "retrying")
    for n in range(15):
        confirmation_for(branch, f"42{n:06d}", f"lecteur{n}@example.org")
    outbox.send_due(later(seconds=30), limit=10, seconds=45)  # the text's own retry is a minute away
    assert len(Script.sent) == 15  # two batches


@pytest.mark.parametrize(
    "site_url", ["https://bibliotheques.example.org:8443", "https://Bibliotheques.Example.org"]
)
def test_a_site_url_the_site_does_serve_is_not_refused(settings, site_url):
    from emporter.notices.checks import links_and_sender_are_public

    settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS = ["bibliotheques.example.org"], []
    settings.DEFAULT_FROM_EMAIL = "ne-pas-repondre@bibliotheques.example.org"
    settings.SITE_URL = site_url  # Django serves it: it drops the port, and host names have no case
    assert links_and_sender_are_public() == []


def test_a_sender_killed_before_the_message_began_to_go_sends_it_again(patron, branch):
    # Killed while connecting (out of memory, SIGKILL): nothing can have left, yet the
    # notice turned "uncertain", never sent by itself. The 354's moment is now stored.
    notice = ready_bag(patron, branch)
    Notice.objects.exclude(pk=notice.pk).delete()

    def killed(message):
        raise SystemExit("SIGKILL")  # not an Exception: through every handler, as a kill

    Script.fail = killed
    message_started = []
    real = outbox._message_starts
    outbox._message_starts = lambda notice_id: message_started.append(notice_id)  # not yet
    try:
        with pytest.raises(SystemExit):
            outbox.send_due(later())
    finally:
        outbox._message_starts = real
    notice.refresh_from_db()
    assert notice.state == State.SENDING and notice.message_started_at is None
    assert outbox.recover_stale(later(minutes=15)) == 1
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.PENDING, "interrupted")
    Script.fail = None
    assert outbox.send_due(later(minutes=16)) == 1 and len(Script.sent) == 1


def test_a_sender_killed_once_the_message_began_leaves_it_uncertain(patron, branch):
    notice = ready_bag(patron, branch)
    Notice.objects.exclude(pk=notice.pk).delete()
    Script.fail = lambda message: (_ for _ in ()).throw(SystemExit("SIGKILL"))
    with pytest.raises(SystemExit):
        outbox.send_due(later())  # this backend cannot show its 354: it may go from the start
    notice.refresh_from_db()
    assert notice.message_started_at is not None
    outbox.recover_stale(later(minutes=15))
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.UNCERTAIN, "worker_stopped")


def test_over_smtp_the_message_begins_at_the_servers_go_ahead(smtp, patron, branch):
    notice = ready_bag(patron, branch)
    Notice.objects.exclude(pk=notice.pk).delete()
    seen = []
    real = outbox._message_starts
    outbox._message_starts = lambda notice_id: (seen.append(len(smtp.recorder.messages)), real(notice_id))
    try:
        assert outbox.send_due(later()) == 1
    finally:
        outbox._message_starts = real
    notice.refresh_from_db()
    assert seen == [0] and notice.message_started_at is not None  # at the 354, before the message


def test_a_text_gateway_down_does_not_stop_the_emails_of_the_same_pass(settings, branch):
    # The text's retry came due (a slow pass, a backlog): its gateway timing out marked
    # "the server" down and the pass stopped, every email behind it waiting; with texts
    # retried every few minutes, emails hardly went at all.
    settings.SMS_PROVIDER = "tests.test_notices_s12.GatewayDown"
    texter = make_patron(branch, card="50000002", phone="06 98 76 54 33", notice_channel="sms")
    place_request(patron=texter, record_id=make_record(title="SMS", copies=[branch]).pk, pickup_branch=branch)
    compose.compose_all(later())
    for n in range(5):
        confirmation_for(branch, f"43{n:06d}", f"lectrice{n}@example.org")
    Notice.objects.update(created_at=timezone.now() - datetime.timedelta(hours=1))
    Notice.objects.filter(patron=texter).update(created_at=timezone.now() - datetime.timedelta(hours=2))
    assert outbox.send_due(later(), seconds=45) == 5  # the text first, failing; the emails all
    assert len(Script.sent) == 5
    held = Notice.objects.get(patron=texter)
    assert (held.state, held.error_code) == (State.PENDING, "retrying")
