"""Pick runs (the morning pull) and their lines."""

import re

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from emporter.catalogue.models import Copy
from emporter.holds.models import Request
from emporter.network.models import Branch, Department, Location


class PickRun(models.Model):
    class Kind(models.TextChoices):
        MORNING = "morning", _("Morning pull")
        LATE = "late", _("Late additions")

    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="pick_runs")
    run_date = models.DateField(_("date"))
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.MORNING)
    # Requests whose copy was set aside at or before this moment belong to the run.
    cutoff = models.DateTimeField(_("cut-off"))
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-run_date", "branch", "cutoff"]
        verbose_name = _("pick run")
        verbose_name_plural = _("pick runs")
        constraints = [
            # Running the morning pull twice yields the same run: the database says so.
            models.UniqueConstraint(
                fields=["branch", "run_date"], condition=Q(kind="morning"), name="one_morning_run_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.branch.code} {self.run_date} {self.get_kind_display()}"


class LineStatus(models.TextChoices):
    PENDING = "pending", _("To pull")
    FOUND = "found", _("Found")
    NOT_FOUND = "not_found", _("Not found")
    CANCELLED = "cancelled", _("No longer needed")
    # Left pending when the next morning's run was built: the copy is on that list now.
    CARRIED = "carried", _("Moved to a later list")


class NotFoundCause(models.TextChoices):
    """Why a picker could not bring a copy. Stored as a code and shown in the reader's
    language: a list marked in English is read by French colleagues too."""

    SHELF = "shelf", _("Not on the shelf")
    DAMAGED = "damaged", _("Damaged")
    OTHER = "other", _("Other")


# How the pick page wrote a cause into the words before it was stored apart, in either
# language ("Pas en rayon : derrière les BD"). picking/0003 split the stored ones; a line
# marked by a web process still running the old code after that migration was not.
OLD_LABELS = {
    "Not on the shelf": "shelf",
    "Pas en rayon": "shelf",
    "Damaged": "damaged",
    "Abîmé": "damaged",
    "Other": "other",
    "Autre": "other",
}
# (\s takes in the no-break space French puts before a colon.)
OLD_WORDING = re.compile(rf"^(?P<label>{'|'.join(OLD_LABELS)})(?:\s*:\s*(?P<rest>.*))?$", re.S)


def not_found_text(cause: str, details: str) -> str:
    """The cause in words, then the picker's own (kept as typed)."""
    if not cause and (old := OLD_WORDING.match(details)):
        cause, details = OLD_LABELS[old.group("label")], (old.group("rest") or "").strip()
    label = NotFoundCause(cause).label if cause in NotFoundCause.values else ""
    if label and details:
        return _("%(reason)s: %(details)s") % {"reason": label, "details": details}
    return str(label or details)


class PickLine(models.Model):
    run = models.ForeignKey(PickRun, on_delete=models.CASCADE, related_name="lines")
    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="pick_lines")
    copy = models.ForeignKey(Copy, on_delete=models.PROTECT, related_name="pick_lines")
    # Copied from the copy when the run is built, so the list's order is stable even
    # if the catalogue is re-imported during the morning.
    department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    location = models.ForeignKey(Location, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    call_number_key = models.CharField(max_length=400, blank=True)
    # The copy's type when the list was built, as its department: a re-import that
    # corrects types must not move past months' figures by type (the report reads it;
    # empty on lines from before, which read the copy's type).
    doc_type = models.CharField(max_length=20, blank=True, db_default="", editable=False)
    # Its department's name and code when listed, for the same reason: a department merged
    # into another and deleted took its name off past months' figures (empty on lines from
    # before, which read the department's own).
    department_name = models.CharField(max_length=200, blank=True, db_default="", editable=False)
    department_code = models.CharField(max_length=30, blank=True, db_default="", editable=False)
    status = models.CharField(max_length=10, choices=LineStatus, default=LineStatus.PENDING)
    # db_default: lines are also written in SQL (history and benchmark builders).
    cause = models.CharField(_("reason"), max_length=10, choices=NotFoundCause, blank=True, db_default="")
    # The picker's own words about it, as typed (and the whole reason of lines marked
    # before the cause was kept apart, in the picker's language of the day).
    reason = models.CharField(_("details"), max_length=200, blank=True)
    marked_at = models.DateTimeField(null=True, blank=True)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("pick line")
        verbose_name_plural = _("pick lines")
        constraints = [
            # A request is on one list at a time. Only pending lines count: a request
            # moved back to a copy that was once not found is pulled again.
            models.UniqueConstraint(
                fields=["request"], condition=Q(status="pending"), name="one_pending_line_per_request"
            ),
        ]
        indexes = [models.Index(fields=["run", "status"], name="pickline_run_status")]

    def __str__(self) -> str:
        return f"{self.run} {self.copy}"

    @property
    def reason_text(self) -> str:
        return not_found_text(self.cause, self.reason)
