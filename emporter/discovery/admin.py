from django.contrib import admin

from .models import Cover, Selection, SelectionItem, SurpriseRequest


class SelectionItemInline(admin.TabularInline):
    model = SelectionItem
    extra = 3
    raw_id_fields = ["record"]
    fields = ["position", "record", "note"]


@admin.register(Selection)
class SelectionAdmin(admin.ModelAdmin):
    list_display = ["title", "branch", "audience", "age_band", "published", "position"]
    list_filter = ["published", "branch", "audience", "age_band"]
    list_editable = ["published", "position"]
    search_fields = ["title", "text"]
    inlines = [SelectionItemInline]


@admin.register(Cover)
class CoverAdmin(admin.ModelAdmin):
    list_display = ["record"]
    raw_id_fields = ["record"]
    search_fields = ["record__title"]


@admin.register(SurpriseRequest)
class SurpriseRequestAdmin(admin.ModelAdmin):
    """The reader's words may be corrected here; what the bag is (whose, how many, where,
    its status and requests) is the service's: asked on the patron's pages, composed or
    cancelled by a librarian. A save writes only the fields it changed, so a bag composed
    while the page was open stays composed, its requests linked."""

    list_display = ["pk", "patron", "how_many", "pickup_branch", "status", "created_at"]
    list_filter = ["status", "pickup_branch"]
    EDITABLE = ("age", "kinds", "tastes", "avoid")
    readonly_fields = [
        "patron",
        "asked_by",
        "how_many",
        "pickup_branch",
        "status",
        "requests",
        "to_tell",
        "composed_by",
        "composed_at",
        "ask_key",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # asked by a reader (discovery.services.create_surprise_request)

    def save_model(self, request, obj, form, change):
        changed = [name for name in form.changed_data if name in self.EDITABLE]
        if changed:
            obj.save(update_fields=changed)
