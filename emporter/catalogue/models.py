"""Records (notices) and their copies (exemplaires)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from emporter.network.models import LENDING_MODES, Branch, Department, Location

from .callnumber import sort_key


class DocType(models.TextChoices):
    BOOK = "book", _("Book")
    COMIC = "comic", _("Comic")
    PERIODICAL = "periodical", _("Periodical")
    DVD = "dvd", _("DVD")
    CD = "cd", _("Music CD")
    AUDIOBOOK = "audiobook", _("Audiobook")
    SCORE = "score", _("Score")
    GAME = "game", _("Game")
    OTHER = "other", _("Other")


class Audience(models.TextChoices):
    ADULT = "adult", _("Adults")
    YOUTH = "youth", _("Youth")


class CopyStatus(models.TextChoices):
    ON_SHELF = "on_shelf", _("On the shelf")
    ON_LOAN = "on_loan", _("On loan")
    SET_ASIDE = "set_aside", _("Set aside for a request")
    IN_TRANSIT = "in_transit", _("In transit")
    HOLD_SHELF = "hold_shelf", _("On the hold shelf")
    MISSING = "missing", _("Missing")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# The mark, in ``Copy.source_codes``, of a copy an import withdrew for being left out of
# its export (``import_marc --withdraw-missing``): the next export listing it brings it back.
ABSENT = "absent"

# The statuses a librarian sets by hand (the admin: a copy lost, withdrawn, found again).
# The others belong to circulation (a request, a pull, a loan) and change only through it.
HAND_SET_STATUSES = (CopyStatus.ON_SHELF, CopyStatus.MISSING, CopyStatus.WITHDRAWN)


class RecordQuerySet(models.QuerySet):
    def lendable(self):
        """Records a request could ever be served for (see ``CopyQuerySet.lendable``)."""
        return self.filter(models.Exists(Copy.objects.lendable().filter(record=models.OuterRef("pk"))))

    def available(self):
        """Records with a copy a request could take now (see ``CopyQuerySet.requestable``)."""
        return self.filter(models.Exists(Copy.objects.requestable().filter(record=models.OuterRef("pk"))))


class CopyQuerySet(models.QuerySet):
    def barcode_as_typed(self, text: str) -> str:
        """The barcode of the one copy ``text`` names as a librarian types it: in other
        capitals (caps lock, a worn label read by eye) or in the printed groups
        ("B000 0100"); ``text`` itself, stripped, when it names none or several."""
        text = text.strip()
        if not text or self.filter(barcode=text).exists():
            return text
        for candidate in dict.fromkeys([text, "".join(text.split())]):
            found = list(self.filter(barcode__iexact=candidate).values_list("barcode", flat=True)[:2])
            if len(found) == 1:
                return found[0]
        return text

    def lendable(self):
        """Copies that are, or may come back, on a shelf a request takes from: with a
        barcode, outside reference and heritage collections, not withdrawn (a missing
        copy may turn up: its waiting list is served when it does). A title with none is
        to consult on site: a waiting list for it would never move."""
        return (
            self.filter(barcode__isnull=False)
            .exclude(status=CopyStatus.WITHDRAWN)
            .exclude(location__requestable=False)
        )

    def requestable(self):
        """Copies a request could take now: lendable ones on the shelf at a library that
        lends. The one statement of the rule: allocation, the record page and the basket
        use it; search writes it in SQL (``search.COPY_REQUESTABLE``) and a test holds the
        two together."""
        return self.lendable().filter(status=CopyStatus.ON_SHELF, branch__service_mode__in=LENDING_MODES)


class Record(models.Model):
    # Re-import key: the source's control number (001), else its system id (035),
    # else another stable id; prefixed by the source so two systems cannot collide.
    source_key = models.CharField(_("source key"), max_length=200, unique=True)
    title = models.CharField(_("title"), max_length=1000)
    responsibility = models.CharField(_("author / responsibility"), max_length=1000, blank=True)
    # db_default: rows written in SQL (COPY, the benchmarks) and the old code's inserts.
    authors = models.TextField(
        _("authors"),
        blank=True,
        default="",
        db_default="",
        help_text=_("Name headings, one per line, main entry first, as the library system files them."),
    )
    publisher = models.CharField(_("publisher"), max_length=500, blank=True)
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    isbn = models.CharField(_("ISBN"), max_length=13, blank=True, db_index=True)
    ean = models.CharField(_("EAN"), max_length=13, blank=True)
    language = models.CharField(_("language"), max_length=3, blank=True)
    subjects = models.JSONField(_("subjects"), default=list, blank=True)
    series = models.CharField(_("series"), max_length=500, blank=True)
    summary = models.TextField(_("summary"), blank=True)
    doc_type = models.CharField(_("document type"), max_length=20, choices=DocType, default=DocType.BOOK)
    audience = models.CharField(_("audience"), max_length=10, choices=Audience, default=Audience.ADULT)
    age_min = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    age_max = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    # Set by a re-import that moved this record's last copies to another one (merged or
    # renumbered in the library system): the record they went to, which its requests
    # follow (holds.merges). Cleared when a copy comes back to it. No database constraint
    # (adding one reads the whole table under lock); the partial index finds the few.
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        editable=False,
        verbose_name=_("merged into"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("record")
        verbose_name_plural = _("records")
        indexes = [
            models.Index(
                fields=["merged_into"], condition=models.Q(merged_into__isnull=False), name="record_merged"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(age_min__isnull=True)
                | models.Q(age_max__isnull=True)
                | models.Q(age_min__lte=models.F("age_max")),
                name="record_age_band_ordered",
                violation_error_message=_("The minimum age must not be above the maximum age."),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def author_headings(self) -> list[str]:
        return [line for line in self.authors.splitlines() if line.strip()]


class Copy(models.Model):
    record = models.ForeignKey(
        Record, on_delete=models.CASCADE, related_name="copies", verbose_name=_("record")
    )
    # NULL only for copies imported without one (reported by the importer); a
    # barcode, when present, is unique across the network.
    barcode = models.CharField(_("barcode"), max_length=50, unique=True, null=True, blank=True)
    call_number = models.CharField(_("call number"), max_length=200, blank=True)
    # Shelf-order key derived from call_number (see picking); indexed for pick lists.
    call_number_key = models.CharField(max_length=400, blank=True, editable=False)
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="copies", verbose_name=_("branch")
    )
    department = models.ForeignKey(
        Department,
        # Deleting a place with copies on it is refused: SET_NULL made a reference
        # collection's copies requestable and took a set-aside copy's shelf from it.
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="copies",
        verbose_name=_("department"),
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="copies",
        verbose_name=_("location"),
    )
    doc_type = models.CharField(_("document type"), max_length=20, choices=DocType, default=DocType.BOOK)
    status = models.CharField(_("status"), max_length=20, choices=CopyStatus, default=CopyStatus.ON_SHELF)
    # The source system's own codes, kept so a re-import with a new mapping can redo it.
    source_codes = models.JSONField(_("codes in the source system"), default=dict, blank=True)
    # "<source>:<id>": the source's own id of the item (Koha's itemnumber, 952$9), which
    # stays when a label is replaced: a re-import finds the copy by it before its barcode.
    # NULL when the source gives none (a column added without rewriting the table).
    source_item = models.CharField(max_length=150, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CopyQuerySet.as_manager()

    class Meta:
        verbose_name = _("copy")
        verbose_name_plural = _("copies")
        indexes = [
            models.Index(fields=["record", "status"], name="copy_record_status"),
            models.Index(fields=["branch", "status"], name="copy_branch_status"),
            # A library's new arrivals (its page, the discover page): its copies of the
            # last weeks, not all its shelves (catalogue/0021).
            models.Index(fields=["branch", "created_at"], name="copy_branch_created"),
            models.Index(
                fields=["source_item"], condition=models.Q(source_item__isnull=False), name="copy_source_item"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.barcode or '—'} {self.call_number}"

    def save(self, *args, **kwargs):
        # The importers compute the key in bulk; a copy added or corrected in the admin
        # must not keep a stale one (or none: it would be first on every pick list).
        self.call_number_key = sort_key(self.call_number)[:400]
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "call_number" in update_fields:
            kwargs["update_fields"] = {*update_fields, "call_number_key"}
        super().save(*args, **kwargs)

    def place_errors(self) -> dict:
        """What is wrong with the copy's place, by field: a copy in another library's
        department, or at a location of another department, is walked to a shelf that is
        not its own, and an import finds the place by the copy's library and codes no
        more. The admin's forms ask it when the place changes (the imports place copies
        by their own library's codes, in bulk; a copy placed wrongly before this check
        must not stop its record's page from saving a title)."""
        errors = {}
        if self.department_id and self.branch_id and self.department.branch_id != self.branch_id:
            errors["department"] = _("This department is in another library: %(branch)s.") % {
                "branch": self.department.branch
            }
        if self.location_id and self.department_id and self.location.department_id != self.department_id:
            errors["location"] = _("This location is in another department: %(department)s.") % {
                "department": self.location.department
            }
        elif self.location_id and self.branch_id and self.location.department.branch_id != self.branch_id:
            # No department given (copies made so before this check): its library, at least.
            errors["location"] = _("This location is in another library: %(branch)s.") % {
                "branch": self.location.department.branch
            }
        return errors

    @property
    def is_lendable(self) -> bool:
        """``CopyQuerySet.lendable`` for a copy in hand (its location loaded)."""
        on_site_only = self.location is not None and not self.location.requestable
        return bool(self.barcode) and self.status != CopyStatus.WITHDRAWN and not on_site_only

    @property
    def is_requestable(self) -> bool:
        """``CopyQuerySet.requestable`` for a copy in hand (its branch and location loaded)."""
        lends = self.branch.service_mode in LENDING_MODES
        return self.is_lendable and self.status == CopyStatus.ON_SHELF and lends
