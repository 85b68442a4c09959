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
    list_display = ["pk", "patron", "how_many", "pickup_branch", "status", "created_at"]
    list_filter = ["status", "pickup_branch"]
    raw_id_fields = ["patron", "asked_by", "requests"]
    readonly_fields = ["composed_by", "composed_at", "ask_key"]
