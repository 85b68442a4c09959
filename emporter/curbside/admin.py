from django.contrib import admin

from .models import Appointment, PickupSettings


@admin.register(PickupSettings)
class PickupSettingsAdmin(admin.ModelAdmin):
    list_display = ["branch", "slot_minutes", "per_slot"]


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ["bag", "slot", "state", "arrived_at", "created_at"]
    list_filter = ["state", "bag__branch"]
    readonly_fields = ["bag", "slot", "state", "arrived_at", "created_at", "closed_at"]

    def has_add_permission(self, request):
        # Booked by patrons and the door desk, never here: every field is read-only, so
        # the add form could only save an appointment without a bag (a server error).
        return False
