from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from emporter.errors import ServiceError

# The admin is a door: it may call circulation, which sits above the catalogue.
from emporter.holds.models import Request
from emporter.holds.services import release_copy, set_copy_status

from .models import HAND_SET_STATUSES, Copy, CopyStatus, Record


def _serve_waiting(copy: Copy, actor) -> None:
    """A copy new on its shelf goes to the oldest waiting request first."""
    if copy.status == CopyStatus.ON_SHELF:
        release_copy(copy=copy, actor=actor)


class CopyForm(forms.ModelForm):
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


class CopyInline(admin.TabularInline):
    model = Copy
    extra = 0
    raw_id_fields = ["department", "location"]
    # Changed one copy at a time, from its own page (CopyAdmin): guarded by what was seen.
    readonly_fields = ["status"]


class CopiesFilter(admin.SimpleListFilter):
    """Records left without copies (an earlier export's, a source whose copies moved):
    found here, and deleted with the action below."""

    title = _("copies")
    parameter_name = "copies"

    def lookups(self, request, model_admin):
        return [("none", _("No copy")), ("some", _("With copies"))]

    def queryset(self, request, queryset):
        has_copies = Exists(Copy.objects.filter(record=OuterRef("pk")))
        if self.value() == "none":
            return queryset.filter(~has_copies)
        if self.value() == "some":
            return queryset.filter(has_copies)
        return queryset


@admin.register(Record)
class RecordAdmin(admin.ModelAdmin):
    list_display = ["title", "responsibility", "year", "doc_type", "audience"]
    list_filter = [CopiesFilter, "doc_type", "audience", "language"]
    search_fields = ["title", "responsibility", "isbn", "source_key"]
    inlines = [CopyInline]
    actions = ["delete_without_copies"]

    @admin.action(description=_("Delete the selected records that have no copy and no request"))
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
class CopyAdmin(admin.ModelAdmin):
    form = CopyForm
    list_display = ["barcode", "call_number", "record", "branch", "status"]
    list_filter = ["status", "branch", "doc_type"]
    search_fields = ["barcode", "call_number"]
    raw_id_fields = ["record", "department", "location"]

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
