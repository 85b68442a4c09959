"""Sending the outbox: retried with backoff, never dropped, never sent twice.

Each send is three steps, each committed on its own:
1. write the message (nothing is claimed while a template runs), then claim the notice:
   PENDING → SENDING with a guarded UPDATE (two workers cannot both claim);
2. hand it to the mail server (or SMS provider);
3. record: SENDING → SENT; back to PENDING with a later attempt time while the trouble
   is temporary; FAILED for a refusal that retrying cannot change; SKIPPED when what it
   announced is over before it could go (a "ready" email for a bag already collected).

Temporary trouble is retried for as long as it lasts: a mail server down all weekend
delays the notices until Monday, it never drops them (a "later" for one message or one
address, a full mailbox, is given up after a week of it). A fault of the server or of our
mail settings (unreachable, a refused sender or password, a relay wanting a login) is
never blamed on the notice, and it stops the batch: the next notices would meet it too,
each after a timeout, while the scheduler has other work. A refusal "for policy" (5.7.x),
or one with no enhanced status code, may be either: it is taken for the server's once a
second domain meets it in the batch. A "ready" email or a reminder refused "later" for a
day, while other email goes through, fails, for staff to phone the patron while the bag
is still held. A server that ends a session once it has taken messages (a cap per
connection) is not down: the message goes on a new connection. An address refused as
unknown is noted on the patron (``Patron.email_refused``): their emails fail at once,
without asking the server again, until the address changes.

A worker dying while the server takes a message leaves the notice in SENDING;
``recover_stale`` marks it UNCERTAIN for staff instead of sending it again, and so is a
connection lost once the server has said "go ahead" (354) to the message: we cannot know
whether it left, so a patron is never told twice; so is a text whose gateway took the
request and never answered (``sms.AnswerLost``). Lost or dead before that (the moment
is stored: ``Notice.message_started_at``), nothing left: retried.
What went wrong is stored as a code (``models.ERRORS``) and the server's own words.
"""

import contextlib
import datetime
import logging
import re
import smtplib
import threading
import time
import urllib.parse

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.message import make_msgid
from django.db import DatabaseError
from django.db.models import Case, F, Q, When
from django.utils import timezone

from emporter.holds.models import ACTIVE, Request, RequestEvent, Status
from emporter.network.models import LENDING_MODES, ServiceMode
from emporter.patrons.models import Patron

from . import render, sms
from .models import Kind, Notice, State

log = logging.getLogger("emporter.notices")

STALE_AFTER = datetime.timedelta(minutes=10)
# Seconds the server may take to answer a message it was given (a scan), within the
# scheduler's stop timeout (docs/deploy.md) and well within STALE_AFTER.
FINAL_REPLY_TIMEOUT = 120
# Between tries: 1, 2, 4, … minutes, then every hour while the trouble lasts.
BACKOFF_CAP_MINUTES = 60
# A server that answers "later" for one address or one message (a full mailbox) for a
# week, counted from its first "later" (Notice.deferred_since), will not take it: the
# notice fails, visibly, for staff to look at. A server that is down, or refuses us
# whatever we send, is retried for as long as that lasts.
DEFERRED_GIVE_UP = datetime.timedelta(days=7)
# A bag is held five open days: a "ready" email or a reminder still refused after a day
# fails then, while a librarian can still phone the patron (the outbox's failed list);
# a week would outlast the bag, and the notice be filed as over, unread.
DEFERRED_GIVE_UP_URGENT = datetime.timedelta(days=1)
URGENT = (Kind.READY, Kind.REMINDER)

# Set when the process is asked to stop (run_scheduler's SIGTERM): the batch ends after
# the notice being sent, rather than be killed in the middle of one.
stop_requested = threading.Event()

# Answers about the server or our settings, not about one message or one address.
SERVER_FAULTS = (
    smtplib.SMTPSenderRefused,
    smtplib.SMTPAuthenticationError,
    smtplib.SMTPHeloError,
    smtplib.SMTPConnectError,
    smtplib.SMTPNotSupportedError,
)


class PermanentFailure(Exception):
    def __init__(self, code: str, detail: str = ""):
        self.code = code  # a key of models.ERRORS
        self.detail = detail  # its %(detail)s
        super().__init__(code)


class LostDuringData(Exception):
    """The connection failed after the message was given to the server, before its answer."""


def backoff(attempts: int) -> datetime.timedelta:
    return datetime.timedelta(minutes=min(2 ** max(attempts - 1, 0), BACKOFF_CAP_MINUTES))


def due(now=None):
    now = now or timezone.now()
    return Notice.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), state=State.PENDING
    )


class Batch:
    """One mail server connection for a whole batch (a TLS handshake and a login per
    message would be most of the time spent), opened at the first email, and the
    channels whose server failed us (the mail server, the SMS gateway): the batch sends
    no more by those, and goes on by the others (a gateway timing out must not hold
    every email)."""

    def __init__(self):
        self.mailer = None
        self.down: set[str] = set()
        self.watching = False  # the SMTP exchange is watched for its 354 (_watch_data)
        self.notice_id = None  # the notice being sent
        self.server_up = False  # the mail server took a message in this batch
        self.released = False  # and the emails its trouble held were released
        self.data_started = False
        self.taken = 0  # messages the present connection took
        self.domain = ""  # of the address being written to
        # The first refusal "for policy" (5.7.x) met in this batch, as (notice pk, domain):
        # a second one for another domain means the server refuses us, not the addresses.
        self.policy_refusal: tuple[int, str] | None = None

    def send(self, message: EmailMultiAlternatives, notice_id: int) -> None:
        self.notice_id = notice_id
        self.domain = message.to[0].rpartition("@")[2].lower()
        try:
            self._send(message)
        except (smtplib.SMTPException, OSError) as error:
            if not (self.taken and _session_ended(error)):
                raise
            # A relay that ends a session after so many messages (a cap per connection,
            # Microsoft 365's rate limits) is not down: this message goes on a new
            # connection, within the same attempt. Refused there too, it is down.
            self.close()
            self._send(message)

    def _send(self, message: EmailMultiAlternatives) -> None:
        if self.mailer is None:
            mailer = mailers.default
            mailer.open()
            self.watching = self._watch_data(mailer)
            self.mailer = mailer
            self.taken = 0
        self.data_started = False
        if not self.watching:  # a backend whose 354 we cannot see: it may go from the start
            _message_starts(self.notice_id)
        try:
            self.mailer.send_messages([message])
            self.server_up = True
            self.taken += 1
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused):
            raise  # the server answered: we know the message did not go
        except OSError as error:  # the connection failed (smtplib's errors are OSErrors too)
            self.close()
            if self.data_started:
                raise LostDuringData(render.describe(error)) from error
            raise

    def _watch_data(self, mailer) -> bool:
        """Note when the message itself starts to go: at the server's 354 ("go ahead")
        to our DATA. A connection lost after that may have delivered it (the server took
        it, its answer was lost); one lost before, or a server that never answers DATA,
        certainly did not, and the notice is simply retried."""
        connection = getattr(mailer, "connection", None)
        if not isinstance(connection, smtplib.SMTP):
            return False
        getreply = connection.getreply
        final = {"pending": False}

        def watched():
            try:
                code, text = getreply()
            finally:
                if final["pending"] and connection.sock is not None:  # the message's answer came
                    connection.sock.settimeout(connection.timeout)
                final["pending"] = False
            if code == 354:  # SMTP gives it only in answer to DATA
                self.data_started = True
                _message_starts(self.notice_id)
                # Servers scan a message (antivirus, antispam) before they answer it, slowest
                # in a backlog after an outage: a wait cut at EMAIL_TIMEOUT would leave a
                # delivered message "uncertain". RFC 5321 (4.5.3.2.6) allows them 10 minutes.
                if connection.sock is not None:
                    connection.sock.settimeout(max(connection.timeout or 0, FINAL_REPLY_TIMEOUT))
                    final["pending"] = True
            return code, text

        connection.getreply = watched
        return True

    def close(self) -> None:
        if self.mailer is not None:
            with contextlib.suppress(OSError):  # already broken: nothing left to close properly
                self.mailer.close()
            self.mailer = None


def _session_ended(error: Exception) -> bool:
    """The server closed the session before taking the message: it answered 421 ("closing
    the connection"), or the connection was gone. Not a connection lost once the message
    was going (LostDuringData), nor a timeout: a slow server would be waited for twice."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code == 421
    return isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError)


_clock = time.monotonic  # (tests replace it)


# A receipt is asked for by a patron standing at the door: it goes before a morning's
# thousands of "ready" emails, not half an hour behind them.
PATRON_WAITING = Case(When(kind=Kind.RECEIPT, then=0), default=1)


def send_due(now=None, limit: int = 100, seconds: float = 0) -> int:
    """Send what is due, oldest first, ``limit`` notices at a time: one batch, or, given
    ``seconds``, batch after batch while notices are due and the time lasts (looked at
    between notices: a slow mail server must not hold the scheduler's other jobs long).
    Returns how many went."""
    now = now or timezone.now()
    deadline = _clock() + seconds if seconds else None
    sent = tried = 0
    batch = Batch()
    try:
        while True:
            waiting = due(now).exclude(channel__in=batch.down).order_by(PATRON_WAITING, "created_at")
            rows = list(waiting.values_list("pk", "channel")[:limit])
            released = False
            for notice_id, channel in rows:
                if stop_requested.is_set() or (tried and _out_of_time(deadline)):
                    return sent
                if channel in batch.down:  # its server failed us a moment ago: next pass
                    continue
                sent += send_one(notice_id, now=now, batch=batch) == State.SENT
                tried += 1
                if batch.server_up and not batch.released:
                    batch.released = True
                    released = _release_held_by_server(now)
            # Each notice tried leaves the due set (sent, failed, or retried later), so
            # the next batch is new work: and the notices the server held, once it is back.
            if released:
                continue
            if len(rows) < limit or deadline is None or _out_of_time(deadline):
                return sent
    finally:
        batch.close()


def _release_held_by_server(now) -> bool:
    """The mail server took a message: the emails it held while unreachable go now,
    oldest first, rather than each at its own backoff (up to an hour after it came back,
    behind newer notices). Text messages wait on their own gateway. Returns whether there
    were any."""
    held = Notice.objects.filter(
        state=State.PENDING, channel="email", error_code="retrying", next_attempt_at__gt=now
    )
    return bool(held.update(next_attempt_at=now))


def _out_of_time(deadline: float | None) -> bool:
    return deadline is not None and _clock() >= deadline


def _claim(notice_id: int, now) -> bool:
    # Stamped with the time of the claim, not of the batch's start: recover_stale reads
    # it, and a long batch must not make the notice being sent look abandoned.
    return bool(
        Notice.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), pk=notice_id, state=State.PENDING
        ).update(
            state=State.SENDING,
            attempts=F("attempts") + 1,
            next_attempt_at=_now(now),
            message_started_at=None,
        )
    )


def _message_starts(notice_id: int) -> None:
    """The message itself begins to go (recover_stale reads it): from here on, a sender
    that dies may have delivered it."""
    Notice.objects.filter(pk=notice_id, state=State.SENDING).update(message_started_at=timezone.now())


def _now(now) -> datetime.datetime:
    """The later of the clock and the caller's ``now`` (tests step time forward)."""
    return max(now, timezone.now())


def send_one(notice_id: int, now=None, batch: Batch | None = None) -> str | None:
    now = now or timezone.now()
    notice = Notice.objects.select_related("patron", "bag__branch").filter(pk=notice_id).first()
    if notice is None or notice.state != State.PENDING:
        return None
    today = timezone.localdate(now)
    if _outdated(notice, today=today):
        # Over before it could go: said apart when mail trouble kept it (the patron was
        # never told), not only when the patron came meanwhile.
        code = "outdated_untold" if notice.error_code else "outdated"
        return _record(notice, State.SKIPPED, code=code) if _claim(notice_id, now) else None
    if _waits_for_reopening(notice, today):
        # "Come and collect" while the library is closed would send the patron to a shut
        # door (they were told it closed): it goes once the library reopens.
        Notice.objects.filter(pk=notice.pk, state=State.PENDING).update(
            next_attempt_at=_now(now) + datetime.timedelta(minutes=BACKOFF_CAP_MINUTES)
        )
        return None
    try:
        rendered = render.render(notice)
    except DatabaseError:
        # The database, not the notice (a connection dropped, a failover): it stays
        # pending, unclaimed, for the next pass; failed, it would wait for staff.
        raise
    except Exception as error:
        # Nothing has left, so FAILED (visible, resendable) is safe.
        log.exception("notice %s could not be rendered", notice.pk)
        if not _claim(notice_id, now):
            return None
        return _record(notice, State.FAILED, code="render_failed", error=render.describe(error))
    if not _claim(notice_id, now):
        return None  # another worker took it
    notice.attempts += 1
    Notice.objects.filter(pk=notice.pk).update(subject=rendered.subject[:300], language=rendered.language)
    own_batch = batch is None
    batch = batch or Batch()
    try:
        return _send(notice, rendered, batch, now)
    finally:
        if own_batch:
            batch.close()


def _send(notice: Notice, rendered: render.Rendered, batch: Batch, now) -> str:
    try:
        address = _deliver(notice, rendered, batch)
    except PermanentFailure as failure:
        return _record(notice, State.FAILED, code=failure.code, error=failure.detail)
    except LostDuringData as error:
        batch.down.add(notice.channel)
        return _record(notice, State.UNCERTAIN, code="lost_during_data", error=str(error))
    except sms.AnswerLost as error:
        batch.down.add(notice.channel)
        return _record(notice, State.UNCERTAIN, code="sms_answer_lost", error=str(error))
    except (smtplib.SMTPException, OSError) as error:
        return _record_smtp_error(notice, error, now, batch)
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
        to_guardian=notice.to_guardian,
        sent_at=timezone.now(),
    )


def _record_smtp_error(notice: Notice, error: Exception, now, batch: Batch) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        answers = list(error.recipients.values())
        detail = repr(error.recipients)
        if any(_sender_refused(code, words) for code, words in answers):
            return _server_fault(notice, "server_refused", detail, now, batch)
        if answers and all(_ambiguous(code, words) for code, words in answers):
            return _policy_refusal(notice, detail, now, batch)
        if answers and all(code >= 500 for code, _ in answers):  # no such user
            if all(_no_such_address(code, words) for code, words in answers):
                _remember_refusal(notice)
            return _record(notice, State.FAILED, code="address_refused", error=detail)
        if any(code == 421 for code, _ in answers):
            # "Service not available, closing": the server, not the address (and
            # smtplib has closed the connection the next notice would have used).
            return _server_fault(notice, "retrying", detail, now, batch)
        return _retry(notice, "deferred", detail, now)  # greylisting, a full mailbox
    if isinstance(error, SERVER_FAULTS) or not isinstance(error, smtplib.SMTPResponseException):
        # Unreachable, disconnected, or refusing us whatever we send: our settings or the
        # server are at fault, not this notice. Refused "for now" (421 "closing", a rate
        # limit), the settings are not in question.
        refused = isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500
        return _server_fault(notice, "server_refused" if refused else "retrying", _words(error), now, batch)
    if _ambiguous(error.smtp_code, error.smtp_error):  # SPF, DMARC, after the message
        return _policy_refusal(notice, _words(error), now, batch)
    if error.smtp_code >= 500:  # this message refused (content, size): retrying cannot help
        return _record(notice, State.FAILED, code="refused", error=_words(error))
    return _retry(notice, "deferred", _words(error), now)


def _server_fault(notice: Notice, code: str, error: str, now, batch: Batch) -> str:
    batch.down.add(notice.channel)
    batch.close()
    return _retry(notice, code, error, now)


ENHANCED_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}\b")
POLICY_WORDS = re.compile(r"relay|denied|policy|spam|block|authenticat|rcpthosts|#5\.7\.", re.IGNORECASE)


def _ambiguous(code: int, words) -> bool:
    """A refusal that cannot tell our fault from the address's: one for security or
    policy reasons (enhanced status 5.7.x, RFC 3463: "relay access denied" from a server
    that wants us to log in, our SPF or DMARC failing, a domain that will not take mail
    from us), or, from servers that send no enhanced status (Exim, qmail), a bare 554 or
    one in such words ("554 Relay access denied", qmail's "553 sorry, that domain isn't
    in my list of allowed rcpthosts (#5.7.1)"). A bare "550 No such user here" is the
    address's. Taken for the address's only while no other domain meets it."""
    if code < 500:
        return False
    text = _text(words)
    if ENHANCED_STATUS.match(text):
        return text.startswith("5.7.")
    return code == 554 or bool(POLICY_WORDS.search(text))


def _text(words) -> str:
    return (words.decode(errors="replace") if isinstance(words, bytes) else str(words)).lstrip()


# RFC 3463 codes of a recipient address that does not exist: no such mailbox, no such
# domain, bad syntax, moved, a domain taking no mail (null MX); Microsoft 365's "5.4.1
# Recipient address rejected". Not 5.1.0 ("other"), 5.1.7 and 5.1.8 (the *sender's*
# address: our settings), nor 5.4.4 (unroutable: the relay's DNS may be at fault).
NO_SUCH_ADDRESS = ("5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.4.1")
SENDER_WORDS = re.compile(r"\bsender\b", re.IGNORECASE)


def _no_such_address(code: int, words) -> bool:
    """A refusal of the address itself (NO_SUCH_ADDRESS), or a bare 550, 551 or 553
    (Exim, qmail). Not a full or disabled mailbox (5.2.x): its owner may empty or reopen
    it, and the same address work again."""
    text = _text(words)
    if ENHANCED_STATUS.match(text):
        return text.split()[0] in NO_SUCH_ADDRESS
    return code in (550, 551, 553)


def _sender_refused(code: int, words) -> bool:
    """The relay refusing *our* sender at RCPT (a bounce address whose domain does not
    resolve, a mailbox not made yet; Postfix answers sender checks there): every patron
    would seem unknown. Our settings are at fault, as for a server refusing us."""
    text = _text(words)
    return code >= 500 and (text.startswith(("5.1.7", "5.1.8")) or bool(SENDER_WORDS.search(text)))


def _remember_refusal(notice: Notice) -> None:
    """Not written to again (address_refused) until the address changes: asking the
    server every morning about an unknown user makes our relay look like a spammer's."""
    to = render.recipient(notice)
    if to is not None:  # only while it is still their address (staff may have corrected it)
        Patron.objects.filter(pk=to.pk, email=to.email).update(email_refused=to.email)


def address_refused(person: Patron) -> bool:
    """Whether ``person``'s email is the one the mail server refused as unknown (in any
    capitals: the same mailbox). A corrected address is not."""
    refused = person.email_refused
    return bool(refused) and refused.casefold() == person.email.casefold()


def _policy_refusal(notice: Notice, error: str, now, batch: Batch) -> str:
    """The first policy refusal of a batch is retried like a "later" (and given up after
    a week if it was this address's); a second one for another domain is the server
    refusing us: the batch stops, and neither notice is blamed."""
    first = batch.policy_refusal
    if first is None or first[1] == batch.domain:
        batch.policy_refusal = first or (notice.pk, batch.domain)
        return _retry(notice, "policy_refused", error, now)
    Notice.objects.filter(pk=first[0], state=State.PENDING, error_code="policy_refused").update(
        error_code="server_refused", deferred_since=None
    )
    return _server_fault(notice, "server_refused", error, now, batch)


def _words(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {error.smtp_error!r}"
    return repr(error)


# Answers of the server about this message or address that may change: given up after a
# week of them (DEFERRED_GIVE_UP).
DEFERRALS = ("deferred", "policy_refused")


def _retry(notice: Notice, code: str, error: str, now) -> str:
    moment = _now(now)
    # The week counts from the first of an unbroken run of such answers: a server that was
    # down meanwhile (another code) starts it again.
    since = (notice.deferred_since or moment) if code in DEFERRALS else None
    if since is not None and _gives_up(notice, code, since, moment):
        return _record(notice, State.FAILED, code="gave_up", error=error)
    return _record(
        notice,
        State.PENDING,
        code=code,
        error=error,
        next_attempt_at=moment + backoff(notice.attempts),
        deferred_since=since,
    )


def _gives_up(notice: Notice, code: str, since, moment) -> bool:
    """A week of "later" for this address or message (a day for a "ready" email or a
    reminder, while other mail goes through: a relay saying "later" to every address, its
    resolver down all weekend, is not each patron's fault)."""
    if notice.kind in URGENT:
        return moment - since > DEFERRED_GIVE_UP_URGENT and _delivered_since(since)
    return moment - since > DEFERRED_GIVE_UP and not _server_refuses_us(notice, code)


def _delivered_since(since) -> bool:
    # A sent notice's next_attempt_at is the moment it was claimed: the "notice_due" index.
    # Emails: a text gateway that works says nothing of the mail relay.
    return Notice.objects.filter(state=State.SENT, channel="email", next_attempt_at__gte=since).exists()


def _server_refuses_us(notice: Notice, code: str) -> bool:
    """A week of policy refusals is not this address's fault while the server is known
    to refuse us (other notices wait on "server_refused", _policy_refusal): a relay
    refusing us all week gives nothing up."""
    refused = Notice.objects.filter(state=State.PENDING, error_code="server_refused")
    return code == "policy_refused" and refused.exclude(pk=notice.pk).exists()


def _record(notice: Notice, state: str, *, code: str = "", error: str = "", **fields) -> str:
    ours = Q(state=State.SENDING)
    if state == State.SENT:
        # A send slower than STALE_AFTER, that another scheduler's recover_stale took for a
        # dead worker's: it did leave, and must not wait for staff to send it again.
        ours |= Q(state=State.UNCERTAIN, error_code="worker_stopped")
        ours |= Q(state=State.PENDING, error_code="interrupted")  # (one taken before it started)
    Notice.objects.filter(ours, pk=notice.pk).update(state=state, error_code=code, last_error=error, **fields)
    if state != State.SENT or code:
        log.warning("notice %s: %s %s (%s)", notice.pk, state, code, _without_addresses(error))
    return state


# The general log is kept as the machine keeps its logs, not as patrons' data is: a
# server's answer often quotes the address ("550 5.1.1 <josé@…>: unknown user").
ADDRESS = re.compile(r"[^\s<>\"',;:]+@[^\s<>\"',;:]+")


def _without_addresses(text: str) -> str:
    return ADDRESS.sub("<address>", text)


def _outdated(notice: Notice, *, today: datetime.date) -> bool:
    """What the notice announces is already over: a "ready" email or a reminder whose
    documents are no longer waiting (collected, expired, cancelled, or past their
    deadline and about to expire), a confirmation of requests all closed. Late notices (a
    mail server down for days, a scheduler stopped) must not tell a patron to come for a
    bag they have collected, or by a date already gone. The others (not found,
    cancelled) tell of something over by nature and always go; so does an "expired"
    one, unless its documents were all lent at the door since; so does a "ready" email
    that also tells what could not be found: then written as a not-found notice alone
    (render.told_as). A closed library's notice is outdated once it has reopened or none
    of its requests is collected there; a cancelled pickup time's, once the bag is no
    longer waiting or another time is booked."""
    told = Request.objects.filter(pk__in=notice.events.values("request_id"))
    if notice.kind in (Kind.READY, Kind.REMINDER):
        tells_not_found = (
            notice.kind == Kind.READY and notice.events.filter(to_status=Status.NOT_FOUND).exists()
        )
        if tells_not_found:
            return False  # that part is news, whatever became of the rest
        if _reminds_of_another_day(notice) or _told_by_a_later_ready(notice):
            return True
        return not _still_waiting(notice, today) or _told_by_reopening(notice)
    if notice.kind == Kind.CONFIRMATION:
        # "We will write when they are ready": held by mail trouble until all are (or are
        # over), it would arrive beside the "ready" email.
        awaiting = [Status.WAITING, Status.PLACED] if notice.attempts else ACTIVE
        return not told.filter(status__in=awaiting).exists()
    if notice.kind == Kind.EXPIRED:  # all lent at the door since (desk.services.lend_expired)
        return told.filter(loan__isnull=False).exists() and not told.filter(loan__isnull=True).exists()
    if notice.kind == Kind.WAITING_AGAIN:  # served (a "ready" email follows) or cancelled
        return not told.filter(status=Status.WAITING).exists()
    if notice.kind == Kind.PICKUP_CLOSED:  # reopened, or collected elsewhere, meanwhile
        return not told.filter(status__in=ACTIVE, pickup_branch__service_mode=ServiceMode.CLOSED).exists()
    if notice.kind == Kind.PICKUP_REOPENED:  # closed again, or collected elsewhere, meanwhile
        return not told.filter(status__in=ACTIVE, pickup_branch__service_mode__in=LENDING_MODES).exists()
    if notice.kind == Kind.RECEIPT:  # its loans forgotten (anonymised) since: it would name nothing
        return not notice.loans.exists()
    if notice.kind == Kind.SURPRISE_CANCELLED:  # the bag deleted since: nothing to name
        return notice.surprise_id is None
    if notice.kind == Kind.TIME_CANCELLED:  # nothing left to collect, or another time booked
        return not _still_waiting(notice, today) or _booked_again(notice)
    return False


def _told_by_a_later_ready(notice: Notice) -> bool:
    """A "ready" email held back by mail trouble while a later document joined its bag,
    whose own "ready" email is written (sent, or going): that one tells the whole bag
    (render reads the bag as it is), and two of them would reach the patron side by
    side. Only a later one: without an outage the first goes at once, and the second
    hours later tells what came since."""
    if notice.kind != Kind.READY or notice.bag_id is None:
        return False
    later = Notice.objects.filter(
        kind=Kind.READY,
        bag_id=notice.bag_id,
        channel=notice.channel,
        pk__gt=notice.pk,
        state__in=[State.PENDING, State.SENDING, State.SENT, State.UNCERTAIN],
    )
    return later.exists()


def _reminds_of_another_day(notice: Notice) -> bool:
    """A reminder written for a last day its bag no longer has: kept longer by the phone
    desk, held to the next open day when its last day was declared closed, or a later
    document put in it, while mail trouble held the reminder back. It would say "until
    tomorrow" of a later date; the bag's new eve brings a fresh one (its key names the
    deadline: ``compose.compose_reminders``, ``reminder:<bag>:<date>``)."""
    if notice.kind != Kind.REMINDER or notice.bag_id is None:
        return False
    prefix, _, day = notice.dedupe_key.rpartition(":")
    if not prefix.startswith("reminder:"):
        return False  # not the composer's key: nothing to compare
    try:
        written_for = datetime.date.fromisoformat(day)
    except ValueError:
        return False
    return notice.bag.hold_until != written_for


def _told_by_reopening(notice: Notice) -> bool:
    """Held while its library was closed (``_waits_for_reopening``), and the "reopened"
    email sent since lists every document it would announce, with the new deadline: it
    would say the same again."""
    still = set(Request.objects.filter(_told_of(notice), status=Status.READY).values_list("pk", flat=True))
    if not still:
        return False
    # Read through these few requests' events (their index), not every reopening's.
    told = RequestEvent.objects.filter(
        request_id__in=still,
        reason="pickup_reopened",
        notice_link__notice__kind=Kind.PICKUP_REOPENED,
        notice_link__notice__state=State.SENT,
        notice_link__notice__created_at__gt=notice.created_at,
    )
    return still <= set(told.values_list("request_id", flat=True))


def _booked_again(notice: Notice) -> bool:
    from emporter.curbside.models import LIVE, Appointment

    return Appointment.objects.filter(bag_id=notice.bag_id, state__in=LIVE).exists()


def _still_waiting(notice: Notice, today: datetime.date) -> bool:
    """Some document the notice tells of, or in its bag, is still to be collected (as
    render's "ready" list)."""
    # A closed library's bags keep their documents past the deadline (they get their
    # days back when it reopens): those still wait.
    in_time = Q(hold_until__gte=today) | Q(pickup_branch__service_mode=ServiceMode.CLOSED)
    return Request.objects.filter(_told_of(notice), in_time, status=Status.READY).exists()


def _told_of(notice: Notice) -> Q:
    """The requests a notice tells of: its events', and its bag's."""
    told = Q(pk__in=notice.events.values("request_id"))
    return told | Q(bag_id=notice.bag_id) if notice.bag_id else told


def _waits_for_reopening(notice: Notice, today: datetime.date) -> bool:
    # Only while it says "come and collect": a "ready" email left with only what could
    # not be found goes at once.
    return (
        notice.kind in (Kind.READY, Kind.REMINDER)
        and notice.bag_id is not None
        and notice.bag.branch.service_mode == ServiceMode.CLOSED
        and _still_waiting(notice, today)
    )


def _deliver(notice: Notice, rendered: render.Rendered, batch: Batch) -> str:
    # The patron's own address, else their guardian's (render.recipient).
    to = render.recipient(notice)
    notice.to_guardian = to is not None and to.pk != notice.patron_id
    if notice.channel == "sms":
        if to is None:
            raise PermanentFailure("no_phone")
        _message_starts(notice.pk)
        sms.send(to=to.phone, text=rendered.sms or rendered.subject)
        return to.phone
    if to is None:
        raise PermanentFailure("no_email")
    if _refused_before(to):
        raise PermanentFailure("address_refused", detail=to.email)
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        # Bounces go to the envelope sender: EMAIL_BOUNCE_ADDRESS, read by someone, when
        # the From header (DEFAULT_FROM_EMAIL, in headers) is a no-reply address.
        from_email=settings.EMAIL_BOUNCE_ADDRESS or None,
        to=[to.email],
        # A patron who answers reaches their library, not the network's sending address.
        reply_to=[rendered.reply_to] if rendered.reply_to else None,
        headers=_headers(notice, rendered),
    )
    message.attach_alternative(rendered.html, "text/html")
    try:
        batch.send(message, notice.pk)
    except ValueError as error:
        # Django could not write the address for SMTP (a non-ASCII local part, a line
        # break): nothing was sent, and the address must be corrected first.
        log.warning("notice %s: bad address (%s)", notice.pk, _without_addresses(str(error)))
        raise PermanentFailure("bad_address") from error
    return to.email


def _refused_before(to: Patron) -> bool:
    """The server refused this address as unknown: not asked again. A mark left by an
    address corrected since is forgotten (it is the patron's former address)."""
    if address_refused(to):
        return True
    if to.email_refused:
        Patron.objects.filter(pk=to.pk, email_refused=to.email_refused).update(email_refused="")
    return False


def _headers(notice: Notice, rendered: render.Rendered) -> dict[str, str]:
    return {
        "From": settings.DEFAULT_FROM_EMAIL,
        "Message-ID": _message_id(notice),
        # Patrons' vacation responders do not answer it: Auto-Submitted (RFC 3834), and
        # Exchange's X-Auto-Response-Suppress (every automatic reply but a non-delivery
        # report, "NDR", which tells of a bad address: "All" would suppress it too).
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "OOF, DR, RN, NRN, AutoReply",
        # Screen readers and translation offers read it in the right language (RFC 3282).
        "Content-Language": rendered.language,
    }


def _message_id(notice: Notice) -> str:
    """The notice's Message-ID: unique across installations (a random part, the site's
    domain) and the same at every attempt, stored at the first: a message sent again after
    an uncertain send is one message to the patron's mail client, not two."""
    if not notice.message_id:
        domain = urllib.parse.urlsplit(settings.SITE_URL).hostname or "localhost"
        Notice.objects.filter(pk=notice.pk, message_id="").update(
            message_id=make_msgid(idstring=f"notice-{notice.pk}", domain=domain)
        )
        notice.message_id = Notice.objects.values_list("message_id", flat=True).get(pk=notice.pk)
    return notice.message_id


def recover_stale(now=None) -> int:
    """SENDING for too long means the worker died mid-send (killed outright, the machine
    stopped). Before the message itself began to go (connecting, greeting, the envelope)
    nothing left: sent again. After, we cannot know whether the server took it, so we do
    not resend on our own: UNCERTAIN, for staff. Returns how many it found."""
    now = now or timezone.now()
    stale = Notice.objects.filter(state=State.SENDING, next_attempt_at__lt=now - STALE_AFTER)
    again = stale.filter(message_started_at__isnull=True).update(
        state=State.PENDING, error_code="interrupted", last_error="", next_attempt_at=now
    )
    return again + stale.update(state=State.UNCERTAIN, error_code="worker_stopped", last_error="")


def resend(*, notice: Notice) -> bool:
    """Staff corrected the address (or checked an uncertain one): send again. Sent again
    as it was after the server refused the address, it is asked once more: staff who
    checked it with the patron need not retype it."""
    again = bool(
        Notice.objects.filter(pk=notice.pk, state__in=[State.FAILED, State.UNCERTAIN]).update(
            state=State.PENDING, next_attempt_at=None, deferred_since=None, error_code="", last_error=""
        )
    )
    to = render.recipient(notice) if again and notice.error_code == "address_refused" else None
    if to is not None:
        Patron.objects.filter(pk=to.pk).update(email_refused="")
    return again
