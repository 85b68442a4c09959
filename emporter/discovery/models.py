"""Help for patrons without a precise title: selections, covers and surprise bags."""

from django.conf import settings
from django.core.validators import (
    FileExtensionValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from emporter.catalogue.models import Audience, Record
from emporter.holds.models import Request
from emporter.network.models import Branch
from emporter.patrons.models import Patron

from .kinds import AgeBand, Kind

IMAGE_TYPES = FileExtensionValidator(["jpg", "jpeg", "png", "webp"])
HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour is written #RRGGBB, for example #0b5cad."))


class Selection(models.Model):
    """A themed list composed by librarians ("Coups de cœur", "Premières lectures")."""

    title = models.CharField(_("title"), max_length=200)
    text = models.CharField(_("short text"), max_length=500, blank=True)
    colour = models.CharField(_("colour"), max_length=7, default="#0b5cad", validators=[HEX_COLOUR])
    image = models.ImageField(_("image"), upload_to="selections/", blank=True, validators=[IMAGE_TYPES])
    audience = models.CharField(_("audience"), max_length=10, choices=Audience, blank=True)
    age_band = models.CharField(_("age band"), max_length=10, choices=AgeBand, blank=True)
    # Empty: shown across the network; otherwise on that branch's page (and the home page).
    branch = models.ForeignKey(
        Branch,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="selections",
        verbose_name=_("library"),
    )
    published = models.BooleanField(_("published"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    records = models.ManyToManyField(Record, through="SelectionItem", related_name="selections")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "-created_at"]
        verbose_name = _("selection")
        verbose_name_plural = _("selections")

    def __str__(self) -> str:
        return self.title


class SelectionItem(models.Model):
    selection = models.ForeignKey(Selection, on_delete=models.CASCADE, related_name="items")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+", verbose_name=_("record"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    note = models.CharField(_("librarian's note"), max_length=300, blank=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("document of the selection")
        verbose_name_plural = _("documents of the selection")
        constraints = [models.UniqueConstraint(fields=["selection", "record"], name="selection_record_once")]

    def __str__(self) -> str:
        return f"{self.selection} · {self.record}"


class Cover(models.Model):
    """A cover image imported or uploaded for a record; without one a placeholder is drawn."""

    record = models.OneToOneField(Record, on_delete=models.CASCADE, related_name="cover")
    image = models.ImageField(_("image"), upload_to="covers/", validators=[IMAGE_TYPES])

    class Meta:
        verbose_name = _("cover")
        verbose_name_plural = _("covers")

    def __str__(self) -> str:
        return str(self.record)


class SurpriseStatus(models.TextChoices):
    # A bag ("sac", masculine in French): not a request's statuses ("réservation").
    OPEN = "open", pgettext_lazy("surprise bag status", "Waiting for a librarian")
    COMPOSED = "composed", pgettext_lazy("surprise bag status", "Composed")
    CANCELLED = "cancelled", pgettext_lazy("surprise bag status", "Cancelled")


class SurpriseRequest(models.Model):
    """A patron asks a librarian to choose documents for them (or for their child)."""

    # Whose card the documents go on: the asker, or one of their children. Both emptied,
    # with the tastes, once the bag is long closed (privacy.services.forget_closed): the
    # statistics count bags, not people.
    patron = models.ForeignKey(
        Patron,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="surprise_requests",
        verbose_name=_("patron"),
    )
    asked_by = models.ForeignKey(
        Patron, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("asked by")
    )
    age = models.PositiveSmallIntegerField(
        _("age of the reader"), null=True, blank=True, validators=[MaxValueValidator(120)]
    )
    how_many = models.PositiveSmallIntegerField(
        _("how many documents"), validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    kinds = models.JSONField(_("kinds"), default=list, blank=True)
    tastes = models.CharField(_("tastes"), max_length=300, blank=True)
    avoid = models.CharField(_("to avoid"), max_length=300, blank=True)
    pickup_branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="+", verbose_name=_("pickup branch")
    )
    status = models.CharField(_("status"), max_length=10, choices=SurpriseStatus, default=SurpriseStatus.OPEN)
    # Cancelled by the library, its pickup library having stopped taking requests
    # (services.cancel_stranded): the patron is to be told (notices.compose reads it).
    to_tell = models.BooleanField(default=False, db_default=False)
    composed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("composed by"),
    )
    composed_at = models.DateTimeField(_("composed at"), null=True, blank=True)
    requests = models.ManyToManyField(
        Request, blank=True, related_name="surprise_requests", verbose_name=_("requests")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # The ask form's key, one per rendering (as the basket's): the same form sent twice
    # (a double click, a reload after a time-out) finds the bag the first made.
    ask_key = models.CharField(_("form key"), max_length=32, null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("surprise bag")
        verbose_name_plural = _("surprise bags")
        indexes = [models.Index(fields=["pickup_branch", "status", "created_at"], name="surprise_queue")]
        constraints = [
            models.CheckConstraint(condition=models.Q(how_many__gte=1), name="surprise_how_many_positive"),
            # Only a closed bag's people are forgotten: one waiting for a librarian has both.
            models.CheckConstraint(
                condition=~models.Q(status=SurpriseStatus.OPEN)
                | models.Q(patron__isnull=False, asked_by__isnull=False),
                name="open_surprise_has_patron",
            ),
            # Behind the service's look-up: two sends at once still make one bag.
            models.UniqueConstraint(
                fields=["asked_by", "ask_key"],
                condition=models.Q(ask_key__isnull=False),
                name="surprise_ask_once",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.patron or '—'} ({self.status})"

    def kind_labels(self) -> list[str]:
        labels = dict(Kind.choices)
        return [str(labels[k]) for k in self.kinds if k in labels]
