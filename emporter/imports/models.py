"""An import a network administrator sent from the web page: the file waits under the
data folder until the task worker reads it, then is deleted (a patron file holds PINs);
the summary and the problems stay, to be read on the page."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Kind(models.TextChoices):
    MARC = "marc", _("Catalogue: MARC records and their copies (ISO 2709 or MARCXML)")
    COPIES = "copies", _("Copies: CSV file")
    PATRONS = "patrons", _("Patrons: CSV file")


class State(models.TextChoices):
    QUEUED = "queued", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", pgettext_lazy("import state", "Done")
    # Unreadable, refused, or read only in part (a file cut short): the problems say.
    FAILED = "failed", _("Not imported, or only in part")
    # The worker stopped (killed, the machine restarted) while reading it.
    INTERRUPTED = "interrupted", _("Interrupted")


class ImportJob(models.Model):
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    file_name = models.CharField(_("file"), max_length=200)
    # Where the file waits (relative to the data folder); emptied once it is read.
    stored_as = models.CharField(max_length=300, blank=True)
    options = models.JSONField(default=dict, blank=True)
    state = models.CharField(_("state"), max_length=12, choices=State, default=State.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    # Written every minute while it runs (services._Heartbeat): a silent one lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    summary = models.TextField(_("summary"), blank=True)
    # [{"where": "file, record 3, byte 1234", "code": "no_barcode", "message": "…"}], the
    # first MAX_PROBLEMS; ``problem_count`` says how many there were in all.
    problems = models.JSONField(default=list, blank=True)
    problem_count = models.PositiveIntegerField(_("problems"), default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        constraints = [
            # One import at a time: two files of one source read at once would race for
            # the same records and barcodes.
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="running"), name="one_import_running"
            ),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="import_kind_known"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.file_name} ({self.get_state_display()})"

    @property
    def over(self) -> bool:
        return self.state in (State.DONE, State.FAILED, State.INTERRUPTED)
