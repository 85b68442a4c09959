"""The ground floor: branches, their calendars, departments and shelving locations."""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ServiceMode(models.TextChoices):
    OPEN = "open", _("Open (normal service)")
    CLICK_COLLECT = "click_collect", _("Click and collect")
    CLOSED = "closed", _("Closed")


# Branches whose copies may be set aside for a request: someone works there every
# morning to pull them, in click and collect as in normal service (where the shelves are
# open to the public, and requests for other branches are pulled as usual). Allocation,
# picking (a morning run for each) and search's "available" all read it; a closed
# branch lends nothing (picking.services.withdraw_closed_branches moves what it held).
LENDING_MODES = (ServiceMode.OPEN, ServiceMode.CLICK_COLLECT)


def closed_for_a_while(path: str = "", now=None) -> Q:
    """The branch at ``path`` ("copy__branch__", say) is closed, and has been for
    settings.CLOSING_GRACE at least: the sweeps that move requests off a closed library
    and tell its patrons wait that long, so that a library closed by mistake and reopened
    within minutes has moved nothing and told no one. (Its pickup times are kept: they
    stand if it reopens in time.)"""
    since = (now or timezone.now()) - datetime.timedelta(seconds=settings.CLOSING_GRACE)
    return Q(**{f"{path}service_mode": ServiceMode.CLOSED, f"{path}mode_changed_at__lte": since})


class BranchQuerySet(models.QuerySet):
    def accepting_requests(self):
        """The libraries patrons may ask to collect at: those in click and collect (the one
        rule; ``Branch.accepts_requests`` says it of one library)."""
        return self.filter(ACCEPTING_REQUESTS)


# In normal service patrons come in and take documents off the shelves themselves; a
# closed library takes nobody.
ACCEPTING_REQUESTS = Q(service_mode=ServiceMode.CLICK_COLLECT)


class Branch(models.Model):
    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    address = models.TextField(_("address"), blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    is_central = models.BooleanField(_("central library"), default=False)
    service_mode = models.CharField(
        _("service mode"), max_length=20, choices=ServiceMode, default=ServiceMode.OPEN
    )
    # When the mode last changed (holds.continuity.set_mode): the patrons collecting at a
    # branch that closes are told once per closing (holds.services.tell_closed_pickups).
    mode_changed_at = models.DateTimeField(_("mode changed at"), default=timezone.now, editable=False)
    # When a switch was last asked from the service-modes page (network.tasks): a switch
    # waiting in the task queue applies only if none was asked after it (an administrator
    # correcting a reopening, or closing every library, while it waited).
    mode_asked_at = models.DateTimeField(_("switch asked at"), null=True, blank=True, editable=False)
    pick_time = models.TimeField(_("morning pick time"), default=datetime.time(8, 30))
    # Bags wait in a public hall: the branch chooses how much of the name they show.
    label_name_style = models.CharField(
        _("name on bag labels"),
        max_length=10,
        default="short",
        choices=[
            ("full", _("Full name")),
            ("short", _("First name and initial")),
            ("card", _("Last 4 digits of the card")),
        ],
    )

    objects = BranchQuerySet.as_manager()

    class Meta:
        ordering = ["-is_central", "name"]
        verbose_name = _("branch")
        verbose_name_plural = _("branches")

    def __str__(self) -> str:
        return self.name

    @property
    def accepts_requests(self) -> bool:
        return self.service_mode == ServiceMode.CLICK_COLLECT


class OpeningHours(models.Model):
    """One opening interval on a weekday; a day may have several (morning, afternoon)."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, pgettext_lazy("weekday", "Monday")
        TUESDAY = 1, pgettext_lazy("weekday", "Tuesday")
        WEDNESDAY = 2, pgettext_lazy("weekday", "Wednesday")
        THURSDAY = 3, pgettext_lazy("weekday", "Thursday")
        FRIDAY = 4, pgettext_lazy("weekday", "Friday")
        SATURDAY = 5, pgettext_lazy("weekday", "Saturday")
        SUNDAY = 6, pgettext_lazy("weekday", "Sunday")

    branch = models.ForeignKey(
        Branch, on_delete=models.CASCADE, related_name="hours", verbose_name=_("branch")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(opens__lt=models.F("closes")),
                name="hours_open_before_close",
                violation_error_message=_("The opening time must be before the closing time."),
            ),
            models.CheckConstraint(
                condition=models.Q(weekday__lte=6),
                name="hours_weekday_range",
                violation_error_message=_("Choose a day of the week."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class ClosedDay(models.Model):
    """A date a branch is closed although its weekday is open (holiday, strike, works).

    ``branch`` empty means the whole network is closed that day (public holidays).
    """

    branch = models.ForeignKey(
        Branch,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="closed_days",
        verbose_name=_("branch"),
        help_text=_("Empty: the whole network is closed that day."),
    )
    date = models.DateField(_("date"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("closed day")
        verbose_name_plural = _("closed days")
        constraints = [
            models.UniqueConstraint(
                fields=["branch", "date"],
                name="closed_day_once",
                violation_error_message=_("This library already has this closed day."),
            ),
            # SQL never finds two NULL branches equal: the network's days need their own.
            models.UniqueConstraint(
                fields=["date"],
                condition=models.Q(branch__isnull=True),
                name="closed_day_once_network",
                violation_error_message=_("The whole network is already closed on this day."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.reason}"


class Department(models.Model):
    branch = models.ForeignKey(
        Branch, on_delete=models.CASCADE, related_name="departments", verbose_name=_("branch")
    )
    code = models.SlugField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=200)
    walking_order = models.PositiveIntegerField(_("walking order"), default=0)

    class Meta:
        ordering = ["branch", "walking_order", "name"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [
            models.UniqueConstraint(
                fields=["branch", "code"],
                name="department_code_per_branch",
                violation_error_message=_("This library already has a department with this code."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.branch.code} · {self.name}"


class Location(models.Model):
    """A shelving location inside a department, walked in ``walking_order``."""

    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="locations", verbose_name=_("department")
    )
    code = models.SlugField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=200)
    walking_order = models.PositiveIntegerField(_("walking order"), default=0)
    hint = models.CharField(
        _("hint for pickers"),
        max_length=300,
        blank=True,
        help_text=_("Where it is and how it is shelved, shown on pick lists."),
    )
    requestable = models.BooleanField(
        _("requestable"),
        default=True,
        help_text=_("Reference and heritage collections are not requestable."),
    )

    class Meta:
        ordering = ["department", "walking_order", "name"]
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        constraints = [
            models.UniqueConstraint(
                fields=["department", "code"],
                name="location_code_per_department",
                violation_error_message=_("This department already has a location with this code."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} · {self.name}"


class ModeChange(models.Model):
    """Who switched a library to which service mode, and when: the continuity switch
    moves, cancels and tells for good, so the network keeps its history."""

    branch = models.ForeignKey(
        Branch, on_delete=models.CASCADE, related_name="mode_changes", verbose_name=_("library")
    )
    from_mode = models.CharField(_("from"), max_length=20, choices=ServiceMode)
    to_mode = models.CharField(_("to"), max_length=20, choices=ServiceMode)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    # A reopening whose patrons are still to be told (those told it had closed): the
    # switch writes the row, ``notices.compose`` reads it (imports point down the apps).
    to_tell = models.BooleanField(_("to tell"), default=False, db_default=False)
    # When a reopening's waiting lists were served (``holds.continuity``): it is told only
    # then, as the telling locks the requests the serving would pass over. A serving that
    # never ended (its worker killed) is told SERVED_WITHIN after the switch all the same.
    served_at = models.DateTimeField(_("served at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["id"], condition=Q(to_tell=True), name="modechange_to_tell")]
        verbose_name = _("service mode change")
        verbose_name_plural = _("service mode changes")

    def __str__(self) -> str:
        return f"{self.branch}: {self.get_from_mode_display()} → {self.get_to_mode_display()}"
