"""The outbox: one row per message to a patron, sent by the worker, never lost nor doubled.

Request events (written in the same transaction as every change of a request) are
the durable source; the composer turns them into notices, grouped per patron, and
links each event to the one notice that told it (a unique link: never told twice).
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from emporter.holds.models import Bag, RequestEvent
from emporter.patrons.models import NoticeChannel, Patron


class Kind(models.TextChoices):
    CONFIRMATION = "confirmation", _("Request confirmation")
    READY = "ready", _("Ready for pickup")
    NOT_FOUND = "not_found", _("Not found")
    REMINDER = "reminder", _("Pickup reminder")
    EXPIRED = "expired", _("Bag expired")
    CANCELLED = "cancelled", _("Cancelled by the library")
    PICKUP_CLOSED = "pickup_closed", _("Pickup library closed")
    WAITING_AGAIN = "waiting_again", _("Back on the waiting list")
    PICKUP_REOPENED = "pickup_reopened", _("Pickup library reopened")
    # A booked pickup time the library no longer opens at (curbside.services.close_finished).
    TIME_CANCELLED = "time_cancelled", _("Pickup time cancelled")
    # Asked for at the door after a hand-over (desk.views.email_receipt): the loans
    # (NoticeLoan), not request events. Through the outbox like the rest, so that a mail
    # server down holds no web worker while the patron waits, and is tried again.
    RECEIPT = "receipt", _("Loans receipt")
    # A surprise bag its library cancelled, no longer taking requests (the surprise).
    SURPRISE_CANCELLED = "surprise_cancelled", _("Surprise bag cancelled")


class State(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # The mail server may or may not have taken it (the worker died mid-send): not
    # retried automatically, so that it is never sent twice; staff decide.
    UNCERTAIN = "uncertain", _("Uncertain: check before resending")
    # What it announced was over before it could go (outbox._outdated).
    SKIPPED = "skipped", _("Not sent: no longer relevant")


# Why a notice was not sent (or was sent differently): a stable code stored on the row,
# the text written in the reader's language when shown. %(detail)s is what the server
# or the template engine said, kept as it came; %(attempts)s the notice's attempts.
ERRORS = {
    "no_email": _("No email address: correct it on the patron's record, then send again."),
    "no_phone": _("No mobile phone number: correct it on the patron's record, then send again."),
    "refused": _("The mail server refused the message: %(detail)s"),
    "address_refused": _("The mail server refused the address: %(detail)s"),
    "retrying": _("The mail server could not be reached; trying again later: %(detail)s"),
    "deferred": _("The mail server asked to try again later (greylisting, a full mailbox): %(detail)s"),
    "server_refused": _(
        "The mail server refused our connection or sender address: check the mail settings. "
        "Trying again later: %(detail)s"
    ),
    "policy_refused": _(
        "The mail server refused this address or message for a security or policy reason; "
        "trying again later, in case our mail settings are at fault: %(detail)s"
    ),
    # A week of "later" for this message or address (outbox.DEFERRED_GIVE_UP; a day for a
    # "ready" email or a reminder, DEFERRED_GIVE_UP_URGENT); also rows
    # from before notices were retried for as long as the trouble lasted.
    "gave_up": _("Gave up after %(attempts)s attempts: %(detail)s"),
    "lost_during_data": _(
        "The connection was lost while the mail server was taking the message: it may have left. "
        "Check with the patron before sending again: %(detail)s"
    ),
    "sms_answer_lost": _(
        "The text message gateway took the message but its answer never came: it may have left. "
        "Check with the patron before sending again: %(detail)s"
    ),
    "outdated": _(
        "Not sent: the documents it announced are no longer waiting (collected, expired or cancelled)."
    ),
    "outdated_untold": _(
        "Not sent: the mail server could not take it before what it announced was over. "
        "The patron was not told."
    ),
    "bad_address": _("The email address cannot be used as written: correct it, then send again."),
    "interrupted": _("The sender stopped before the message left: it goes again."),
    "worker_stopped": _(
        "The worker stopped while sending: the message may have left. "
        "Check with the patron before sending again."
    ),
    "send_error": _(
        "Unexpected error while sending: the message may have left. Check before sending again: %(detail)s"
    ),
    "render_failed": _("The message could not be written: %(detail)s"),
    "template_fallback": _(
        "Sent with the built-in wording, because the staff wording has an error: %(detail)s"
    ),
}


class Notice(models.Model):
    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    channel = models.CharField(
        _("channel"), max_length=10, choices=NoticeChannel, default=NoticeChannel.EMAIL
    )
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.PENDING)
    # Same key, same notice: composing twice (two schedulers, a retry) adds nothing.
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, unique=True)
    bag = models.ForeignKey(
        Bag, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("bag")
    )
    events = models.ManyToManyField(RequestEvent, through="NoticeEvent", related_name="+")
    loans = models.ManyToManyField("desk.Loan", through="NoticeLoan", related_name="+", blank=True)
    surprise = models.ForeignKey(
        "discovery.SurpriseRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("surprise bag"),
        db_index=False,  # a partial index, built concurrently (notices/0016)
    )
    note = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True, db_index=True)
    # When the server began answering "later" for this message or address (outbox._retry):
    # the week before giving up counts from there, not from the notice's creation, so that
    # a notice that waited out an outage is not given up at its first greylisting.
    deferred_since = models.DateTimeField(_("deferred since"), null=True, blank=True)
    # A key of ERRORS; empty on rows written before the codes, whose last_error is
    # the whole (English) text.
    error_code = models.CharField(_("error code"), max_length=30, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_to = models.CharField(_("sent to"), max_length=254, blank=True)
    # Whether it went to the patron's guardian (a child's notice): their address is the
    # guardian's data, kept from the patron's export even once the child has come of age.
    # Unknown (null) on notices sent before it was noted.
    to_guardian = models.BooleanField(_("sent to the guardian"), null=True, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    # The subject's language (its reader's), for the outbox's lang attribute.
    # db_default: the old code's inserts, between migrate and the restart, set no value.
    language = models.CharField(_("language"), max_length=5, blank=True, default="", db_default="")
    message_id = models.CharField(_("message id"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # When the message itself began to go in the present attempt (the mail server's 354,
    # the text gateway called): a sender that died before it left nothing, and the notice
    # is sent again (outbox.recover_stale); after it, it may have left.
    message_started_at = models.DateTimeField(_("message started at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="notice_due"),
            # The outbox and the admin list the latest first: without it, each page
            # sorted every notice (300,000: 440 ms the outbox, 25 ms with it).
            models.Index(fields=["-created_at", "-id"], name="notice_latest_first"),
            # A surprise bag deleted sets its notices' link to null: found through this.
            models.Index(fields=["surprise"], name="notice_surprise", condition=Q(surprise__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.patron} ({self.get_state_display()})"

    @property
    def error_message(self) -> str:
        """What went wrong, in the active language."""
        if self.error_code not in ERRORS:
            return self.last_error
        return str(ERRORS[self.error_code]) % {"detail": self.last_error, "attempts": self.attempts}


class NoticeEvent(models.Model):
    notice = models.ForeignKey(Notice, on_delete=models.CASCADE)
    event = models.OneToOneField(RequestEvent, on_delete=models.CASCADE, related_name="notice_link")

    def __str__(self) -> str:
        return f"{self.notice_id} ← {self.event_id}"


class NoticeLoan(models.Model):
    """A loan a receipt names. Unlinked, once the receipt is done with, when the loan is
    anonymised (retention.unlink_forgotten_requests), as a request's events are."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE)
    loan = models.ForeignKey("desk.Loan", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "loan"], name="one_link_per_notice_and_loan")
        ]

    def __str__(self) -> str:
        return f"{self.notice_id} ← loan {self.loan_id}"


class NoticeTemplate(models.Model):
    """Staff wording for a notice kind in one language, replacing the shipped default.
    Written in Django's template language, with the same variables as the defaults."""

    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    language = models.CharField(_("language"), max_length=5, choices=[("fr", "Français"), ("en", "English")])
    subject = models.CharField(_("subject"), max_length=300)
    body_text = models.TextField(_("plain text"))
    body_html = models.TextField(_("HTML"), blank=True, help_text=_("Empty: built from the plain text."))

    class Meta:
        verbose_name = _("notice template")
        verbose_name_plural = _("notice templates")
        constraints = [
            models.UniqueConstraint(fields=["kind", "language"], name="one_template_per_kind_language")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.language})"
