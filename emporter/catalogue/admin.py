from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from emporter import admin_search
from emporter.admin_search import IndexedSearch
from emporter.catalogue.search import LANGUAGES
from emporter.dates import long_date

# The admin is a door: it may call circulation, which sits above the catalogue.
from emporter.desk.models import Loan
from emporter.errors import ServiceError
from emporter.holds.models import HOLDING_COPY, Request, Status
from emporter.holds.services import release_copy, set_copy_status

from .models import HAND_SET_STATUSES, Copy, CopyStatus, Record

# What a copy our circulation holds keeps, as an import keeps it (importer.PLACEMENT_FIELDS):
# the patron asked for its record, the pick list, the van and the hold shelf go by its
# library, department and location, and every desk finds it by its barcode. Its call
# number, type and codes may still be corrected (a wrong call number is fixed while the
# copy waits, as Koha allows), and its status is circulation's (CopyForm).
KEPT_WHILE_HELD = ("record", "barcode", "branch", "department", "location")
# The statuses only circulation gives. On loan may also come from the source (lent by
# the library's own system): only an open loan at one of our doors holds a copy.
CIRCULATION_STATUSES = (CopyStatus.SET_ASIDE, CopyStatus.IN_TRANSIT, CopyStatus.HOLD_SHELF)


def held_copies(copies) -> dict[Copy, str]:
    """The copies among ``copies`` (a queryset, or copies) that our circulation holds (a
    request, a transit, an open loan), each with why, in words a librarian reads.

    Every copy of ``copies`` is locked (FOR UPDATE), held or not, before looking: inside
    the admin's transaction, the check and the save or delete after it see the same
    copy. A request takes a copy by locking it first (holds.allocation: FOR UPDATE, then
    an UPDATE guarded by the status), so either it took the copy before this read, which
    waits for it and refuses, or it finds the copy locked and takes another, or waits and
    then reads the copy's new record and place. (Locking only the copies found held would
    leave a free one to be taken between this check and the save.) On SQLite each
    transaction runs alone (IMMEDIATE mode)."""
    ids = copies.values("pk") if hasattr(copies, "values") else [copy.pk for copy in copies]
    holding = Request.objects.filter(copy=OuterRef("pk"), status__in=HOLDING_COPY)
    lent = Loan.objects.filter(copy=OuterRef("pk"), returned_at__isnull=True)
    with transaction.atomic():
        locked = Copy.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")
        list(locked.values_list("pk", flat=True))
        held = (
            Copy.objects.filter(pk__in=ids)
            .filter(Q(status__in=CIRCULATION_STATUSES) | Exists(holding) | Exists(lent))
            .order_by("pk")
        )
        return {copy: _why_held(copy) for copy in held}


def _with_held(deleted, counts, perms_needed, protected, copies):
    """Django's answer for a delete page, with the held copies among ``copies`` listed
    with what else stops the deletion. Then without the permissions it finds missing:
    the requests a held copy has (which nobody deletes from here) made the page say
    "your account doesn't have permission to delete requests", shown before, and
    instead of, why the copy is kept."""
    held = _held_list(copies)
    if held:
        perms_needed = set()
    return deleted, counts, perms_needed, [*protected, *held]


def _why_held(copy: Copy) -> str:
    request = (
        Request.objects.filter(copy=copy, status__in=HOLDING_COPY).select_related("pickup_branch").first()
    )
    if request is not None:
        pickup = {"pickup": request.pickup_branch.name}
        if request.status == Status.READY:
            return (
                gettext(
                    "This copy is on the hold shelf for a request (ready at %(pickup)s): until the request "
                    "is over, it keeps its record, barcode, library, department and location, and cannot "
                    "be deleted."
                )
                % pickup
            )
        if copy.status == CopyStatus.IN_TRANSIT:
            return (
                gettext(
                    "This copy is in transit for a request (to be collected at %(pickup)s): until the "
                    "request is over, it keeps its record, barcode, library, department and location, "
                    "and cannot be deleted."
                )
                % pickup
            )
        return (
            gettext(
                "This copy is set aside for a request (to be collected at %(pickup)s): until the request "
                "is over, it keeps its record, barcode, library, department and location, and cannot be "
                "deleted."
            )
            % pickup
        )
    loan = Loan.objects.filter(copy=copy, returned_at__isnull=True).first()
    if loan is not None:
        return gettext(
            "This copy is on loan (due %(date)s): until it is returned, it keeps its record, "
            "barcode, library, department and location, and cannot be deleted."
        ) % {"date": long_date(loan.due_date)}
    if copy.status == CopyStatus.IN_TRANSIT:
        return gettext(
            "This copy is in transit back to %(branch)s: until it is received there, it keeps its "
            "record, barcode, library, department and location, and cannot be deleted."
        ) % {"branch": copy.branch.name}
    return gettext(
        "This copy is in circulation (%(status)s): until it is back on its shelf, it keeps its "
        "record, barcode, library, department and location, and cannot be deleted."
    ) % {"status": copy.get_status_display()}


def _held_list(copies) -> list[str]:
    """Why each held copy of ``copies`` cannot be deleted, for the admin's list of what
    stops a deletion (its "protected" objects)."""
    return [
        gettext("%(barcode)s: %(why)s") % {"barcode": copy.barcode or copy.pk, "why": why}
        for copy, why in held_copies(copies).items()
    ]


def _delete_unless_held(request, queryset, copies) -> None:
    """The "delete selected" action, checked again in the transaction that deletes: its
    confirmation page (get_deleted_objects) was read in one of its own, and a copy may
    have been taken by a request since (the one case where Django's success message
    follows this refusal)."""
    with transaction.atomic():
        if held := _held_list(copies):
            for why in held:
                messages.error(request, why)
            return
        queryset.delete()


class HeldCopyGuard:
    """A copy our circulation holds keeps its record, barcode and place
    (``KEPT_WHILE_HELD``): a change of one of them is refused, in words. A place given
    or changed must be one of the copy's library (``Copy.place_errors``)."""

    def clean(self):
        cleaned = super().clean()
        moved = [name for name in KEPT_WHILE_HELD if name in self.changed_data]
        if moved and self.instance.pk is not None and not self.instance._state.adding:
            for why in held_copies([self.instance]).values():
                raise ValidationError(why, code="copy_held")
        return cleaned

    def _post_clean(self):
        super()._post_clean()  # the instance now holds the form's values
        if {"branch", "department", "location"} & set(self.changed_data):
            for field, message in self.instance.place_errors().items():
                self.add_error(field, message)


def _serve_waiting(copy: Copy, actor) -> None:
    """A copy new on its shelf goes to the oldest waiting request first."""
    if copy.status == CopyStatus.ON_SHELF:
        release_copy(copy=copy, actor=actor)


class CopyForm(HeldCopyGuard, forms.ModelForm):
    """A copy's status is set by hand only among HAND_SET_STATUSES; a copy in circulation
    (set aside, in transit, on the hold shelf, on loan) shows its status, read-only."""

    # The status the librarian saw when the page opened: a change is made from it only.
    status_seen = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Copy
        fields = [
            "record",
            "barcode",
            "call_number",
            "branch",
            "department",
            "location",
            "doc_type",
            "status",
            "source_codes",
        ]

    def clean_status_seen(self) -> str:
        seen = self.cleaned_data["status_seen"]
        return seen if seen in CopyStatus.values else ""

    def clean_status(self) -> str:
        # Not sent (the page showed it read-only, and the copy has left circulation
        # since): unchanged, rather than "this field is required" and the edit lost.
        return self.cleaned_data.get("status") or self.instance.status

    def status_lost(self) -> bool:
        """Whether the librarian asked for another status than the one they saw, on a copy
        whose status has changed since (it is left as it is)."""
        key = self.add_prefix("status")
        seen = self.cleaned_data.get("status_seen") or self.initial.get("status")
        changed_since = seen != self.initial.get("status")
        return key in self.data and self.data[key] != seen and changed_since

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status_seen"].initial = self.instance.status
        status = self.fields["status"]
        status.required = False
        if self.instance.pk and self.instance.status not in HAND_SET_STATUSES:
            status.disabled = True
            status.help_text = _("Set by circulation (a request, a pull, a loan), and changed by it only.")
        else:
            status.choices = [(value, label) for value, label in status.choices if value in HAND_SET_STATUSES]


class CopyInlineForm(HeldCopyGuard, forms.ModelForm):
    class Meta:
        model = Copy
        fields = [name for name in CopyForm.Meta.fields if name != "status"]


class CopyInlineFormSet(BaseInlineFormSet):
    """A copy our circulation holds is not deleted from its record's page either."""

    def clean(self):
        gone = [
            form
            for form in self.initial_forms
            if form.instance.pk is None and form.data.get(f"{form.prefix}-id")
        ]
        if gone:
            # Its row says "Select a valid choice", which tells the librarian nothing.
            raise ValidationError(
                _(
                    "A copy of this record was deleted while the page was open: reload it, then make "
                    "the changes again."
                ),
                code="copy_gone",
            )
        gone = [form.instance for form in self.forms if form.instance.pk and self._should_delete_form(form)]
        if gone and (held := _held_list(gone)):
            raise ValidationError(held, code="copy_held")
        super().clean()


class CopyInline(admin.TabularInline):
    model = Copy
    form = CopyInlineForm
    formset = CopyInlineFormSet
    extra = 0
    raw_id_fields = ["department", "location"]
    # Changed one copy at a time, from its own page (CopyAdmin): guarded by what was seen.
    readonly_fields = ["status"]


# Each copy edited on its record's page costs a few queries (its branch choices, its
# department's and location's labels): a periodical's 318 copies took 3.4 s and 1,914
# queries to open. Past this many, they are listed, each edited from its own page.
EDITABLE_COPIES = 20


class CopyListFormSet(BaseInlineFormSet):
    """Read only: what it sends back is not read (a copy deleted meanwhile, by an import or
    a colleague, made its row invalid, and the record's own edits were refused)."""

    @classmethod
    def get_default_prefix(cls):
        # Not the editable inline's "copies": a page's POST says which of the two it showed.
        return "copylist"

    def is_valid(self):
        return True

    def save(self, commit=True):
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        return []


class CopyListInline(admin.TabularInline):
    """A record's copies when there are many: read in one query, each linked to its page,
    with a link to add one (prefilled with the record)."""

    model = Copy
    formset = CopyListFormSet
    template = "admin/catalogue/record/copy_list_inline.html"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = readonly_fields = ["barcode", "call_number", "branch", "department", "location", "status"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("branch", "department__branch", "location__department__branch")
        )

    def has_add_permission(self, request, obj=None):
        return False


class LanguageFilter(admin.SimpleListFilter):
    """The languages catalogues hold, as a fixed list: Django's own filter read every
    record for its choices (SELECT DISTINCT, a third of a second on each view of a list
    of a million records)."""

    title = _("language")
    parameter_name = "language"

    def lookups(self, request, model_admin):
        return list(LANGUAGES.items())

    def queryset(self, request, queryset):
        return queryset.filter(language=self.value()) if self.value() else queryset


class CopiesFilter(admin.SimpleListFilter):
    """Records left without copies (an earlier export's, a source whose copies moved):
    found here, and deleted with the action below."""

    title = _("copies")
    parameter_name = "copies"

    def lookups(self, request, model_admin):
        return [("none", _("No copy")), ("some", _("With copies"))]

    def queryset(self, request, queryset):
        if connection.vendor == "postgresql" and self.value() in ("none", "some"):
            # The availability summary the copies' triggers keep (catalogue/0011): read
            # on the record itself, not by looking for copies of a million records.
            empty = "catalogue_record.copy_branches = '{}'"
            return queryset.extra(where=[empty if self.value() == "none" else f"NOT ({empty})"])
        has_copies = Exists(Copy.objects.filter(record=OuterRef("pk")))
        if self.value() == "none":
            return queryset.filter(~has_copies)
        if self.value() == "some":
            return queryset.filter(has_copies)
        return queryset


@admin.register(Record)
class RecordAdmin(IndexedSearch, admin.ModelAdmin):
    list_display = ["title", "responsibility", "year", "doc_type", "audience"]
    list_filter = [CopiesFilter, "doc_type", "audience", LanguageFilter]
    search_fields = ["title"]  # (searched by admin_search: the box is shown for these)
    search_by = {"pk": admin_search.records}
    search_help_text = _("An ISBN, a source key, or words of the title or authors.")
    inlines = [CopyInline]
    actions = ["delete_without_copies"]

    def get_inlines(self, request, obj):
        # A form sent back is read with the inline it was shown with: a copy added or
        # removed meanwhile (an import, a colleague) must not drop the librarian's edits.
        if "copies-TOTAL_FORMS" in request.POST:  # (the copies' related name)
            return [CopyInline]
        if f"{CopyListFormSet.get_default_prefix()}-TOTAL_FORMS" in request.POST:
            return [CopyListInline]
        many = obj is not None and obj.copies.count() > EDITABLE_COPIES
        return [CopyListInline] if many else [CopyInline]

    @admin.action(
        permissions=["delete"], description=_("Delete the selected records that have no copy and no request")
    )
    def delete_without_copies(self, request, queryset):
        # Anything a patron asked for stays: its requests' history points at it.
        idle = queryset.exclude(Exists(Copy.objects.filter(record=OuterRef("pk")))).exclude(
            Exists(Request.objects.filter(record=OuterRef("pk")))
        )
        deleted = idle.count()
        idle.delete()
        kept = queryset.count()
        done = ngettext("%(n)s record deleted.", "%(n)s records deleted.", deleted) % {"n": deleted}
        if kept:
            done += " " + ngettext(
                "%(n)s kept: it has copies or requests.", "%(n)s kept: they have copies or requests.", kept
            ) % {"n": kept}
        messages.success(request, done)

    def get_deleted_objects(self, objs, request):
        # A record's copies go with it: one our circulation holds stops the deletion.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        ids = objs.values("pk") if hasattr(objs, "values") else [record.pk for record in objs]
        return _with_held(deleted, counts, perms_needed, protected, Copy.objects.filter(record__in=ids))

    def delete_queryset(self, request, queryset):
        _delete_unless_held(request, queryset, Copy.objects.filter(record__in=queryset.values("pk")))

    def save_formset(self, request, form, formset, change):
        if formset.model is not Copy:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for copy in formset.deleted_objects:
            copy.delete()
        for copy, changed in formset.changed_objects:
            # Only what was edited: a full save would write back the status read with the
            # page, undoing a request or a loan made meanwhile.
            copy.save(update_fields=[name for name in changed if name != "status"] + ["updated_at"])
        for copy in formset.new_objects:
            copy.save()
            _serve_waiting(copy, request.user)


@admin.register(Copy)
class CopyAdmin(IndexedSearch, admin.ModelAdmin):
    form = CopyForm
    list_display = ["barcode", "call_number", "record", "branch", "status"]
    list_filter = ["status", "branch", "doc_type"]
    search_fields = ["barcode"]  # (searched by admin_search: the box is shown for these)
    search_by = {"pk": admin_search.copies}
    search_help_text = _("A barcode, or the beginning of a call number.")
    list_select_related = ["record", "branch"]
    # Sorted by what an index serves: sorting 2,500,000 copies by status took 3 s.
    sortable_by = ["barcode"]
    raw_id_fields = ["record", "department", "location"]

    def get_deleted_objects(self, objs, request):
        # Listed with what else stops a deletion: the page says why, and deletes nothing.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return _with_held(deleted, counts, perms_needed, protected, objs)

    def delete_queryset(self, request, queryset):
        _delete_unless_held(request, queryset, queryset)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.save()
            _serve_waiting(obj, request.user)
            return
        fields = [name for name in form.changed_data if name not in ("status", "status_seen")]
        if fields:
            obj.save(update_fields=[*fields, "updated_at"])
        if form.status_lost():
            now = CopyStatus(form.initial["status"]).label  # obj holds the status asked for
            error = ServiceError("copy_status_changed", barcode=obj.barcode or obj.pk, status=now)
            messages.error(request, error.message)
        elif "status" in form.changed_data:
            self._set_status(request, obj, seen=form.cleaned_data["status_seen"] or form.initial["status"])

    def _set_status(self, request, copy: Copy, *, seen: str) -> None:
        try:
            # Its own savepoint: a refusal keeps the other fields just saved.
            with transaction.atomic():
                served = set_copy_status(copy_id=copy.pk, seen=seen, status=copy.status, actor=request.user)
        except ServiceError as error:
            messages.error(request, error.message)
            return
        if served is not None:
            messages.info(request, _served_message(copy))


def _served_message(copy: Copy) -> str:
    return gettext("%(barcode)s went to the oldest waiting request: it is on the next pick list.") % {
        "barcode": copy.barcode or copy.pk
    }
