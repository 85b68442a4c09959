from django import forms
from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from emporter import admin_search
from emporter.admin_search import IndexedSearch

from .models import Channel, Request, RequestEvent, RequestPolicy
from .policy import Policy

# Why an event happened (RequestEvent.reason), in words; the placing channel otherwise.
EVENT_REASONS = {
    "retarget": _("moved to another copy"),
    "not_found": _("not found"),
    "found": _("in hand: into the bag"),
    "in_transit": _("on its way to the pickup library"),
    "copy_freed": _("a copy came free for it"),
    "handover": _("handed over"),
    "expired": _("not collected in time"),
    "staff": _("cancelled by the library"),
    "patron": _("cancelled by the patron"),
    "pickup_changed": _("pickup library changed"),
    "pickup_closed": _("pickup library closed"),
    "record_merged": _("its record was merged into another in the library system"),
    "pickup_closed_withdrawn": _("waits: pickup library closed"),
    "pickup_reopened": _("pickup library reopened"),
    "copy_library_closed": _("the copy’s library closed"),
    "not_found_waiting": _("not found: waits for another copy"),
    "no_copy_left": _("no copy can serve it any more"),
    "hold_extended": _("kept longer on the hold shelf"),
    "lent_another_copy": _("filled: another copy lent at the door"),
}


class EventInline(admin.TabularInline):
    model = RequestEvent
    extra = 0
    can_delete = False
    fields = ["at", "actor", "from_status", "to_status", "why", "note", "copy", "branch"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("reason"))
    def why(self, event):
        channels = dict(Channel.choices)
        return EVENT_REASONS.get(event.reason) or channels.get(event.reason) or event.reason or "—"


@admin.register(Request)
class RequestAdmin(IndexedSearch, admin.ModelAdmin):
    list_display = ["pk", "record", "patron", "pickup_branch", "status", "channel", "created_at"]
    list_filter = ["status", "channel", "pickup_branch"]
    search_fields = ["copy__barcode"]  # (searched by admin_search: the box is shown for these)
    search_by = {
        "copy_id": admin_search.copies,
        "patron_id": admin_search.patrons,
        "record_id": admin_search.records,
    }
    search_help_text = _("A barcode, a card, an ISBN, or words of a title or of a patron's name.")
    list_select_related = ["record", "patron", "pickup_branch"]
    raw_id_fields = ["patron", "record", "copy", "placed_by"]
    inlines = [EventInline]

    # To read only. A request is placed, moved and closed through its services (the
    # phone desk for staff): they set its copy aside, check the limits and write its
    # events. One added or edited here held no copy, joined no pick list, and left its
    # document refused to every other patron ("try again").
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class InheritedBooleanSelect(forms.NullBooleanSelect):
    """Yes / No, or nothing set: the rule this one overrides decides (not "Unknown")."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = (
            ("unknown", _("As the network rule")),
            ("true", _("Yes")),
            ("false", _("No")),
        )


class RequestPolicyForm(forms.ModelForm):
    class Meta:
        model = RequestPolicy
        fields = [
            "branch",
            "category",
            "max_active",
            "type_limits",
            "requestable_types",
            "hold_days",
            "allow_other_branches",
            "allow_waiting_list",
        ]
        widgets = {
            "allow_other_branches": InheritedBooleanSelect,
            "allow_waiting_list": InheritedBooleanSelect,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("max_active", "hold_days"):
            self.fields[name].help_text = _(
                "Empty: as the network rule, or %(value)s when the network sets none."
            ) % {"value": getattr(Policy(), name)}


def _shown(value) -> str:
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, dict):
        return ", ".join(f"{code}: {limit}" for code, limit in value.items()) or gettext("none")
    if isinstance(value, list):
        return ", ".join(str(code) for code in value) or gettext("every type")
    return str(value)


def _effective(field: str):
    """A column showing the row's value; for the network's own row, an unset field says
    what applies (holds.policy.Policy's default) rather than a bare "-"."""

    def column(obj: RequestPolicy) -> str:
        value = getattr(obj, field)
        if value is not None:
            return _shown(value)
        if obj.is_network_default:
            return gettext("default (%(value)s)") % {"value": _shown(getattr(Policy(), field))}
        return gettext("inherited")

    column.short_description = RequestPolicy._meta.get_field(field).verbose_name
    column.__name__ = f"{field}_shown"
    return column


@admin.register(RequestPolicy)
class RequestPolicyAdmin(admin.ModelAdmin):
    form = RequestPolicyForm
    list_display = [
        "__str__",
        _effective("max_active"),
        _effective("type_limits"),
        _effective("requestable_types"),
        _effective("hold_days"),
        _effective("allow_other_branches"),
        _effective("allow_waiting_list"),
    ]
    list_filter = ["branch", "category"]
