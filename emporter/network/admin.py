import itertools

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import Branch, ClosedDay, Department, Location, ModeChange, OpeningHours


class OpeningHoursFormSet(BaseInlineFormSet):
    def clean(self):
        """Two intervals of one day that overlap (a typo: 12:00–20:00 beside 13:00–19:00)
        are refused: patrons were offered every pickup time of the overlap twice."""
        super().clean()
        by_day: dict[int, list] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if (
                not data
                or data.get("DELETE")
                or not all(data.get(k) is not None for k in ("weekday", "opens", "closes"))
            ):
                continue
            by_day.setdefault(data["weekday"], []).append((data["opens"], data["closes"]))
        for weekday, intervals in by_day.items():
            intervals.sort()
            for (_opens, closes), (next_opens, _closes) in itertools.pairwise(intervals):
                if next_opens < closes:
                    day = OpeningHours.Weekday(weekday).label
                    raise ValidationError(_("Two opening intervals overlap (%(day)s).") % {"day": day})


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    formset = OpeningHoursFormSet
    extra = 0


class ClosedDayInline(admin.TabularInline):
    model = ClosedDay
    extra = 0


class DepartmentInline(admin.TabularInline):
    model = Department
    extra = 0


@admin.register(ModeChange)
class ModeChangeAdmin(admin.ModelAdmin):
    """Read only: the history of the continuity switch (holds.continuity.set_mode writes it)."""

    list_display = ["changed_at", "branch", "from_mode", "to_mode", "changed_by"]
    list_filter = ["to_mode", "branch"]
    date_hierarchy = "changed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "service_mode", "pick_time", "is_central"]
    list_filter = ["service_mode"]
    search_fields = ["code", "name"]
    inlines = [OpeningHoursInline, ClosedDayInline, DepartmentInline]

    # Changing the mode moves or cancels requests: it is done on the service-modes page,
    # which says how many first and asks (network.views), never from a list or a form.
    def get_exclude(self, request, obj=None):
        return ["service_mode"] if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        return ["service_mode_shown", "mode_changed_at"] if obj is not None else []

    def get_fields(self, request, obj=None):
        fields = [
            f for f in super().get_fields(request, obj) if f not in ("service_mode_shown", "mode_changed_at")
        ]
        if obj is not None:
            at = fields.index("pick_time") if "pick_time" in fields else len(fields)
            fields[at:at] = ["service_mode_shown", "mode_changed_at"]
        return fields

    @admin.display(description=_("service mode"))
    def service_mode_shown(self, obj):
        return format_html(
            '{} — <a href="{}">{}</a>',
            obj.get_service_mode_display(),
            reverse("network:modes"),
            _("change it on the service modes page, which says which requests it moves or cancels"),
        )


class LocationInline(admin.TabularInline):
    model = Location
    extra = 0


class DepartmentForm(forms.ModelForm):
    class Meta:
        model = Department
        fields = ["branch", "code", "name", "walking_order"]

    def clean_branch(self):
        """A department with copies on it stays in its library: its copies would sit in
        another library's department (their library is their own), and imports, which
        find a place by the copy's library and code, would find it no more. An empty one
        moves: made in the wrong library, most likely."""
        branch = self.cleaned_data["branch"]
        moved = self.instance.pk is not None and branch.pk != self.instance.branch_id
        # Its copies, and those placed at one of its locations without it (older ones).
        at_its_locations = Location.objects.filter(department=self.instance, copies__isnull=False)
        if moved and (self.instance.copies.exists() or at_its_locations.exists()):
            raise ValidationError(
                _(
                    "This department has copies of its library on it: it cannot move to another "
                    "library. Make the department in the other library instead."
                ),
                code="department_has_copies",
            )
        return branch


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    form = DepartmentForm
    list_display = ["name", "branch", "code", "walking_order"]
    list_filter = ["branch"]
    inlines = [LocationInline]


@admin.register(ClosedDay)
class ClosedDayAdmin(admin.ModelAdmin):
    list_display = ["date", "where", "reason"]
    list_filter = ["branch"]

    @admin.display(description=_("branch"), ordering="branch__name")
    def where(self, obj):
        return obj.branch if obj.branch_id else _("Whole network")
