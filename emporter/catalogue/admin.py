from django.contrib import admin

from .models import Copy, Record


class CopyInline(admin.TabularInline):
    model = Copy
    extra = 0
    raw_id_fields = ["department", "location"]


@admin.register(Record)
class RecordAdmin(admin.ModelAdmin):
    list_display = ["title", "responsibility", "year", "doc_type", "audience"]
    list_filter = ["doc_type", "audience", "language"]
    search_fields = ["title", "responsibility", "isbn", "source_key"]
    inlines = [CopyInline]


@admin.register(Copy)
class CopyAdmin(admin.ModelAdmin):
    list_display = ["barcode", "call_number", "record", "branch", "status"]
    list_filter = ["status", "branch", "doc_type"]
    search_fields = ["barcode", "call_number"]
    raw_id_fields = ["record", "department", "location"]
