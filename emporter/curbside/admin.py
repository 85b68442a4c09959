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
