"""Loans: the minimal circulation that keeps availability true."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from emporter.catalogue.models import Copy, DocType
from emporter.holds.models import Request
from emporter.network.models import Branch
from emporter.patrons.models import Patron

# How long a library's rules may link a returned loan to its borrower, in days.
MAX_HISTORY_DAYS = 120


class LoanPolicy(models.Model):
    """Loan rules per document type; the row with an empty type is the default."""

    doc_type = models.CharField(_("document type"), max_length=20, choices=DocType, blank=True, unique=True)
    loan_days = models.PositiveSmallIntegerField(
        _("loan period (days)"), default=28, validators=[MinValueValidator(1)]
    )
    max_renewals = models.PositiveSmallIntegerField(_("renewals allowed"), default=1)
    # 0 forgets who borrowed what as soon as the document is back; at most four months
    # (the CNIL's advice): a longer history is the patron's choice (Patron.loan_history).
    anonymise_after_days = models.PositiveSmallIntegerField(
        _("forget the borrower after (days)"),
        default=0,
        validators=[MaxValueValidator(MAX_HISTORY_DAYS)],
        help_text=_(
            "0: as soon as the document is returned; 120 at most. Patrons who ask for their "
            "loan history on their account keep it."
        ),
    )

    class Meta:
        verbose_name = _("loan policy")
        verbose_name_plural = _("loan policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(anonymise_after_days__lte=MAX_HISTORY_DAYS),
                name="loan_history_four_months_at_most",
                violation_error_message=_("A loan is forgotten 120 days after its return at the latest."),
            ),
            # 0 made every loan due the day it was made.
            models.CheckConstraint(
                condition=Q(loan_days__gte=1),
                name="loan_one_day_at_least",
                violation_error_message=_("A loan lasts one day at least."),
            ),
        ]

    def __str__(self) -> str:
        return self.get_doc_type_display() or str(_("All documents"))


class Loan(models.Model):
    copy = models.ForeignKey(Copy, on_delete=models.PROTECT, related_name="loans", verbose_name=_("copy"))
    # Emptied when the loan history is anonymised (privacy): the loan stays for statistics.
    patron = models.ForeignKey(
        Patron,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="loans",
        verbose_name=_("patron"),
    )
    request = models.OneToOneField(
        Request,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="loan",
        verbose_name=_("request"),
    )
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="loans", verbose_name=_("branch")
    )
    checked_out_at = models.DateTimeField(_("checked out"), auto_now_add=True)
    checked_out_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("checked out by"),
    )
    due_date = models.DateField(_("due"))
    renewals = models.PositiveSmallIntegerField(_("renewals"), default=0)
    # What makes a renewal asked twice renew once (desk.services.renew): the day of the
    # last one, and the API's Idempotency-Keys of this loan's renewals, space separated.
    renewed_on = models.DateField(_("last renewed"), null=True, blank=True, editable=False)
    renew_keys = models.TextField(_("renewal keys"), blank=True, default="", db_default="", editable=False)
    returned_at = models.DateTimeField(_("returned"), null=True, blank=True)
    # Where it came back: not always where it was lent, nor where it belongs.
    returned_branch = models.ForeignKey(
        Branch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("returned at"),
    )
    anonymised = models.BooleanField(_("anonymised"), default=False)

    class Meta:
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        constraints = [
            # One copy, one borrower at a time: a second scan at the door cannot lend it twice.
            models.UniqueConstraint(
                fields=["copy"], condition=Q(returned_at__isnull=True), name="one_open_loan_per_copy"
            ),
        ]
        indexes = [
            models.Index(fields=["patron", "returned_at"], name="loan_patron_open"),
            models.Index(fields=["checked_out_at"], name="loan_checked_out"),  # loans per day
            # Forgotten loans by return: the hourly pass blurring the latest (services.
            # blur_recent_returns) reads two days of them.
            models.Index(
                fields=["returned_at"], condition=Q(anonymised=True), name="loan_returned_forgotten"
            ),
        ]

    def __str__(self) -> str:
        # Not the patron: this is what the admin's history keeps of a loan.
        # The library's date, not UTC's (a loan at 00:30 in Paris is dated that day).
        if not self.checked_out_at:
            return str(self.copy)
        return f"{self.copy} ({timezone.localdate(self.checked_out_at):%Y-%m-%d})"
