"""Requests (réservations), their event log and the request policy."""

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from emporter.catalogue.models import Copy, DocType, Record
from emporter.network.models import Branch
from emporter.patrons.models import Patron, PatronCategory


class Status(models.TextChoices):
    WAITING = "waiting", _("Waiting for a copy")
    PLACED = "placed", _("Placed")
    READY = "ready", _("Ready for pickup")
    COLLECTED = "collected", _("Collected")
    NOT_FOUND = "not_found", _("Not found")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


# Requests in these statuses count against the patron's limits.
ACTIVE = (Status.WAITING, Status.PLACED, Status.READY)
# Requests in these statuses hold a copy; no two may hold the same one.
HOLDING_COPY = (Status.PLACED, Status.READY)
# Closed without a loan: forgotten after REQUEST_HISTORY_DAYS (privacy.services.forget_closed);
# a collected request is forgotten with its loan.
UNCOLLECTED = (Status.NOT_FOUND, Status.CANCELLED, Status.EXPIRED)


class Channel(models.TextChoices):
    ONLINE = "online", _("Online")
    # Through the patron API (a library's app): told apart from the web in the report,
    # to judge whether the app is worth keeping.
    APP = "app", _("App")
    PHONE = "phone", _("Phone")
    DESK = "desk", _("At the desk")
    # Asked for by a patron (online) and composed by a librarian: neither alone.
    SURPRISE = "surprise", _("Surprise bag")


class Bag(models.Model):
    """Where one patron's ready documents wait at one branch: one label, one slot.

    A patron has at most one open bag per branch; documents found on later mornings
    join it, and its deadline is the latest of theirs.
    """

    class State(models.TextChoices):
        OPEN = "open", _("On the hold shelf")
        CLOSED = "closed", _("Closed")

    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="bags", verbose_name=_("branch")
    )
    patron = models.ForeignKey(
        Patron, on_delete=models.PROTECT, related_name="bags", verbose_name=_("patron")
    )
    label = models.CharField(_("bag label"), max_length=20)
    state = models.CharField(max_length=10, choices=State, default=State.OPEN)
    hold_until = models.DateField(_("held until"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("bag")
        verbose_name_plural = _("bags")
        constraints = [
            models.UniqueConstraint(
                fields=["branch", "patron"], condition=Q(state="open"), name="one_open_bag_per_patron_branch"
            ),
            models.UniqueConstraint(
                fields=["branch", "label"], condition=Q(state="open"), name="open_bag_label_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.branch.code} {self.label}"


def patron_pseudonym(patron_id: int) -> str:
    """The same opaque value for every request of one patron, so statistics can count
    people once who borrowed is forgotten (Koha keeps such a keyed hash for the same
    reason). Keyed by PSEUDONYM_KEY (the SECRET_KEY unless set apart, so that rotating the
    SECRET_KEY does not make everyone a new person): the database alone does not give the
    patron back."""
    key = settings.PSEUDONYM_KEY
    return salted_hmac(
        "emporter.holds.patron_pseudonym", str(patron_id), secret=key, algorithm="sha256"
    ).hexdigest()[:32]


class Request(models.Model):
    # Emptied once the loan that collected it is anonymised (desk.services): who borrowed
    # what is forgotten; patron_pseudonym still tells the statistics it was one person.
    patron = models.ForeignKey(
        Patron,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requests",
        verbose_name=_("patron"),
    )
    # db_default: rows written in SQL (COPY, the benchmarks) need not know about it;
    # statistics then count the patron by id (holds.selectors.PATRON_KEY).
    patron_pseudonym = models.CharField(max_length=32, blank=True, default="", db_default="", editable=False)
    record = models.ForeignKey(
        Record, on_delete=models.PROTECT, related_name="requests", verbose_name=_("record")
    )
    copy = models.ForeignKey(
        Copy, on_delete=models.PROTECT, null=True, blank=True, related_name="requests", verbose_name=_("copy")
    )
    pickup_branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="requests", verbose_name=_("pickup library")
    )
    status = models.CharField(_("status"), max_length=20, choices=Status, default=Status.PLACED)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel, default=Channel.ONLINE)
    # The doc type at placement time, so per-type limits are a plain count.
    doc_type = models.CharField(_("document type"), max_length=20)
    # A client-chosen key so a retried call or double click returns the same request.
    idempotency_key = models.CharField(_("request key"), max_length=100, null=True, blank=True)
    # Which call the key was first used for (its documents and pickup library): the same
    # key with another body is refused, not half-replayed (services.place_requests).
    idempotency_fingerprint = models.CharField(
        _("basket fingerprint"), max_length=16, blank=True, default="", db_default="", editable=False
    )
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("placed by"),
    )
    created_at = models.DateTimeField(_("placed on"), auto_now_add=True)
    # When a copy was set aside: the pick run cut-off compares against this.
    placed_at = models.DateTimeField(_("copy set aside at"), null=True, blank=True)
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True)
    hold_until = models.DateField(_("held until"), null=True, blank=True)
    bag = models.ForeignKey(
        Bag, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests", verbose_name=_("bag")
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("request")
        verbose_name_plural = _("requests")
        constraints = [
            # The database itself refuses a copy promised twice or a title requested twice.
            models.UniqueConstraint(
                fields=["copy"],
                condition=Q(status__in=HOLDING_COPY),
                name="one_active_request_per_copy",
                violation_error_message=_("This copy is already set aside for another request."),
            ),
            models.UniqueConstraint(
                fields=["patron", "record"],
                condition=Q(status__in=ACTIVE),
                name="one_active_request_per_patron_record",
                violation_error_message=_("This patron already has a request under way for this title."),
            ),
            models.UniqueConstraint(
                fields=["patron", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="request_idempotency_key",
                violation_error_message=_("This patron already has a request with this request key."),
            ),
            models.CheckConstraint(
                condition=~Q(status__in=HOLDING_COPY) | Q(copy__isnull=False),
                name="active_request_has_copy",
                violation_error_message=_("A placed or ready request must have its copy."),
            ),
            # Only the history is forgotten: a request still under way has its patron.
            models.CheckConstraint(
                condition=~Q(status__in=ACTIVE) | Q(patron__isnull=False),
                name="active_request_has_patron",
                violation_error_message=_("A request under way must have its patron."),
            ),
        ]
        indexes = [
            models.Index(fields=["patron", "status"], name="request_patron_status"),
            models.Index(fields=["record", "status", "created_at"], name="request_record_queue"),
            models.Index(fields=["pickup_branch", "status"], name="request_pickup_status"),
            # The statistics read a period of requests by these dates.
            models.Index(fields=["created_at"], name="request_created"),
            models.Index(fields=["ready_at"], name="request_ready"),
            models.Index(fields=["closed_at"], name="request_closed"),
            # The few requests to forget, found without reading every request that still
            # names its patron (collected ones whose loan history is kept: months of them).
            models.Index(
                fields=["closed_at", "created_at"],
                condition=Q(patron__isnull=False, status__in=UNCOLLECTED),
                name="request_to_forget",
            ),
            # An erasure finds every request of the patron by it, forgotten ones included
            # (privacy.services.erase_patron), without reading every request.
            models.Index(fields=["patron_pseudonym"], name="request_pseudonym"),
        ]

    def __str__(self) -> str:
        who = self.patron.card_number if self.patron_id else "—"
        return f"#{self.pk} {self.record} → {who} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


class RequestEvent(models.Model):
    """One row per move of a request: the audit trail, and what notices and stats read."""

    request = models.ForeignKey(
        Request, on_delete=models.CASCADE, related_name="events", verbose_name=_("request")
    )
    at = models.DateTimeField(_("date and time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("done by"),
    )
    from_status = models.CharField(_("status before"), max_length=20, choices=Status, blank=True)
    to_status = models.CharField(_("status after"), max_length=20, choices=Status)
    reason = models.CharField(_("reason"), max_length=50, blank=True)
    note = models.TextField(_("note"), blank=True)
    copy = models.ForeignKey(
        Copy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("copy")
    )
    branch = models.ForeignKey(
        Branch, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("branch")
    )
    # Not yet told nor set aside by the notices' composer: what it reads, through a
    # partial index, instead of a week of history (millions of rows) every pass.
    to_tell = models.BooleanField(default=True, db_default=True, editable=False)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("request event")
        verbose_name_plural = _("request events")
        indexes = [
            models.Index(fields=["to_status", "at"], name="event_status_at"),
            models.Index(fields=["at"], condition=Q(to_tell=True), name="event_to_tell"),
        ]

    def __str__(self) -> str:
        before = Status(self.from_status).label if self.from_status in Status.values else "∅"
        return f"{self.request_id}: {before} → {self.get_to_status_display()}"


class RequestPolicy(models.Model):
    """Request rules. The row with no branch and no category is the network default;
    a row for a branch and/or a patron category overrides only the fields it sets."""

    branch = models.ForeignKey(
        Branch,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        verbose_name=_("branch"),
        help_text=_("Empty: the whole network."),
    )
    category = models.CharField(_("patron category"), max_length=10, choices=PatronCategory, blank=True)
    max_active = models.PositiveSmallIntegerField(_("maximum active requests"), null=True, blank=True)
    type_limits = models.JSONField(
        _("limits per document type"), null=True, blank=True, help_text=_('For example {"dvd": 3}')
    )
    requestable_types = models.JSONField(
        _("requestable document types"), null=True, blank=True, help_text=_("Empty: every type.")
    )
    hold_days = models.PositiveSmallIntegerField(
        _("open days a ready request is held"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    allow_other_branches = models.BooleanField(
        _("copies may come from other branches"), null=True, blank=True
    )
    allow_waiting_list = models.BooleanField(
        _("titles with no copy on the shelf can be requested"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("request policy")
        verbose_name_plural = _("request policies")
        constraints = [
            models.UniqueConstraint(
                fields=["branch", "category"],
                name="policy_once_per_branch",
                violation_error_message=_("This library already has a rule for this patron category."),
            ),
            models.UniqueConstraint(
                fields=["category"],
                condition=Q(branch__isnull=True),
                name="policy_once_per_network",
                violation_error_message=_("The whole network already has a rule for this patron category."),
            ),
            # 0 held every bag "until today": it expired that night, the patron told too late.
            models.CheckConstraint(
                condition=Q(hold_days__isnull=True) | Q(hold_days__gte=1),
                name="policy_hold_one_day_at_least",
                violation_error_message=_("A ready request is held one open day at least."),
            ),
        ]

    def __str__(self) -> str:
        where = str(self.branch) if self.branch_id else gettext("Whole network")
        who = self.get_category_display() if self.category else gettext("all patron categories")
        return f"{where} / {who}"

    @property
    def is_network_default(self) -> bool:
        """The row every other one falls back on (unset fields: holds.policy.Policy's)."""
        return self.branch_id is None and not self.category

    def clean(self) -> None:
        """Refuse what the services could not read: a limit that is not a whole number
        (every request of that type would fail), a code in capitals or misspelt (silently
        never matched), a string where a list is expected (checked letter by letter)."""
        errors = {}
        if self.type_limits is not None:
            errors["type_limits"] = _type_limits_errors(self.type_limits)
        if self.requestable_types is not None:
            errors["requestable_types"] = _requestable_types_errors(self.requestable_types)
        errors = {name: messages for name, messages in errors.items() if messages}
        if errors:
            raise ValidationError(errors)


def _valid_codes() -> str:
    return ", ".join(DocType.values)


def _unknown_code(code) -> ValidationError:
    return ValidationError(
        _("“%(code)s” is not a document type code. Valid codes (in lower case): %(codes)s."),
        code="unknown_doc_type",
        params={"code": code, "codes": _valid_codes()},
    )


def _type_limits_errors(value) -> list[ValidationError]:
    if not isinstance(value, dict):
        return [
            ValidationError(
                _('Write the limits as {"code": number}, for example {"dvd": 3}. Valid codes: %(codes)s.'),
                code="invalid_type_limits",
                params={"codes": _valid_codes()},
            )
        ]
    errors = []
    for code, limit in value.items():
        if code not in DocType.values:
            errors.append(_unknown_code(code))
        # bool is an int in Python: true is no limit anyone meant.
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            errors.append(
                ValidationError(
                    _("The limit for “%(code)s” must be a whole number, 0 or more (not %(limit)s)."),
                    code="invalid_type_limit",
                    params={"code": code, "limit": json.dumps(limit, ensure_ascii=False)},
                )
            )
    return errors


def _requestable_types_errors(value) -> list[ValidationError]:
    if not isinstance(value, list):
        return [
            ValidationError(
                _(
                    'Write the requestable types as a list, for example ["book", "dvd"].'
                    " Valid codes: %(codes)s."
                ),
                code="invalid_requestable_types",
                params={"codes": _valid_codes()},
            )
        ]
    return [_unknown_code(code) for code in value if not isinstance(code, str) or code not in DocType.values]
