from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services as curbside
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

    def has_delete_permission(self, request, obj=None):
        # A deleted booking kept its place taken (the slot's count is given back by the
        # service): cancel it instead, with the action below.
        return False

    @admin.action(
        permissions=["change"],
        description=_(
            "Cancel the selected booked pickup times (their places are given back; the patron is not told)"
        ),
    )
    def cancel_selected(self, request, queryset):
        # Bookings only: a patron at the door now ("I'm here") is the door's to serve.
        booked = queryset.filter(state=Appointment.State.BOOKED)
        cancelled = sum(curbside.cancel(appointment=appointment) for appointment in booked)
        self.message_user(
            request,
            ngettext("%(n)d pickup time cancelled.", "%(n)d pickup times cancelled.", cancelled)
            % {"n": cancelled},
        )
        if at_door := queryset.filter(state=Appointment.State.ARRIVED).count():
            self.message_user(
                request,
                ngettext(
                    "%(n)d patron is at the door: left to the door's list.",
                    "%(n)d patrons are at the door: left to the door's list.",
                    at_door,
                )
                % {"n": at_door},
                messages.WARNING,
            )

    actions = ["cancel_selected"]
