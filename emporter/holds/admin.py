from django.contrib import admin

from .models import Request, RequestEvent, RequestPolicy


class EventInline(admin.TabularInline):
    model = RequestEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "actor", "from_status", "to_status", "reason", "note", "copy", "branch"]


@admin.register(Request)
class RequestAdmin(admin.ModelAdmin):
    list_display = ["pk", "record", "patron", "pickup_branch", "status", "channel", "created_at"]
    list_filter = ["status", "channel", "pickup_branch"]
    search_fields = ["patron__card_number", "patron__last_name", "record__title", "copy__barcode"]
    raw_id_fields = ["patron", "record", "copy", "placed_by"]
    readonly_fields = ["status"]  # moves go through the lifecycle, not the admin
    inlines = [EventInline]


@admin.register(RequestPolicy)
class RequestPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "max_active",
        "type_limits",
        "hold_days",
        "allow_other_branches",
        "allow_waiting_list",
    ]
