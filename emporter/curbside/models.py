"""Pickup appointments: a time to collect a ready bag, and "I'm here" at the door.

Koha (curbside pickups) and Evergreen (curbside) let patrons book a pickup time so the
door is never crowded; what their users asked for is built in: a slot is never in the
past nor after the bag's deadline, a slot never takes more patrons than it was given
(the database checks it), and "I'm here" is only possible once the bag is ready.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from emporter.holds.models import Bag
from emporter.network.models import Branch


class PickupSettings(models.Model):
    """A branch that offers pickup times. Without a row, patrons simply come during
    opening hours (and may still say "I'm here")."""

    branch = models.OneToOneField(
        Branch, on_delete=models.CASCADE, related_name="pickup_settings", verbose_name=_("branch")
    )
    slot_minutes = models.PositiveSmallIntegerField(
        _("minutes per slot"), default=15, validators=[MinValueValidator(5), MaxValueValidator(240)]
    )
    per_slot = models.PositiveSmallIntegerField(
        _("patrons per slot"),
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("How many patrons the door can serve in one slot."),
    )

    class Meta:
        verbose_name = _("pickup times of a branch")
        verbose_name_plural = _("pickup times of the branches")
        constraints = [
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=5, slot_minutes__lte=240),
                name="slot_minutes_range",
                violation_error_message=_("A slot lasts from 5 to 240 minutes."),
            ),
            models.CheckConstraint(
                condition=Q(per_slot__gte=1),
                name="per_slot_positive",
                violation_error_message=_("A slot takes at least one patron."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.branch}: {self.per_slot} / {self.slot_minutes} min"


class Slot(models.Model):
    """One pickup time at one branch, with its places: written the first time someone
    books it. Its capacity follows the settings' "patrons per slot" at each booking
    (``services.book``), never below what is booked: lowering it sends nobody away."""

    branch = models.ForeignKey(Branch, on_delete=models.CASCADE, related_name="+", verbose_name=_("branch"))
    starts_at = models.DateTimeField(_("starts at"))
    capacity = models.PositiveSmallIntegerField(_("places"))
    booked = models.PositiveSmallIntegerField(_("booked"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["branch", "starts_at"], name="one_slot_per_branch_time"),
            # Never more patrons than places, whoever books at the same moment.
            models.CheckConstraint(condition=Q(booked__lte=F("capacity")), name="slot_not_overbooked"),
        ]

    def __str__(self) -> str:
        # The time the patron was given (the library's), not the stored UTC one.
        when = timezone.localtime(self.starts_at)
        return f"{self.branch} {when:%Y-%m-%d %H:%M} ({self.booked}/{self.capacity})"


class Appointment(models.Model):
    """A bag's pickup: booked for a slot, or not; "arrived" once the patron says they are
    at the door; done when the bag is handed over; cancelled otherwise."""

    class State(models.TextChoices):
        # An appointment ("rendez-vous", masculine in French), not a request.
        BOOKED = "booked", pgettext_lazy("pickup appointment state", "Booked")
        ARRIVED = "arrived", pgettext_lazy("pickup appointment state", "At the door")
        DONE = "done", pgettext_lazy("pickup appointment state", "Collected")
        CANCELLED = "cancelled", pgettext_lazy("pickup appointment state", "Cancelled")

    bag = models.ForeignKey(Bag, on_delete=models.CASCADE, related_name="appointments", verbose_name=_("bag"))
    slot = models.ForeignKey(
        Slot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("pickup time"),
    )
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.BOOKED)
    created_at = models.DateTimeField(_("booked at"), auto_now_add=True)
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # Cancelled because the library no longer opens at its time: the patron is still to
    # be told. Curbside writes the row, ``notices.compose`` reads it (imports point down).
    to_tell = models.BooleanField(_("to tell"), default=False, db_default=False)

    class Meta:
        verbose_name = _("pickup appointment")
        verbose_name_plural = _("pickup appointments")
        constraints = [
            models.UniqueConstraint(
                fields=["bag"],
                condition=Q(state__in=["booked", "arrived"]),
                name="one_live_appointment_per_bag",
            ),
            models.CheckConstraint(
                condition=~Q(state="arrived") | Q(arrived_at__isnull=False), name="arrived_has_a_time"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "bag"], name="appointment_state_bag"),
            # The few still to tell, never the history.
            models.Index(fields=["id"], condition=Q(to_tell=True), name="appointment_to_tell"),
        ]

    def __str__(self) -> str:
        return f"{self.bag} {self.get_state_display()}"


LIVE = (Appointment.State.BOOKED, Appointment.State.ARRIVED)
