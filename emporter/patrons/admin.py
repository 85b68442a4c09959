from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Patron, SignInFailures, StaffRole


@admin.register(Patron)
class PatronAdmin(admin.ModelAdmin):
    list_display = ["card_number", "last_name", "first_name", "home_branch", "category"]
    list_filter = ["home_branch", "category"]
    search_fields = ["card_number", "last_name", "first_name", "email", "phone_digits"]
    raw_id_fields = ["user", "guardian"]
    actions = ["reset_pin"]

    @admin.action(description=_("Give a new PIN (shown once, to tell the patron)"))
    def reset_pin(self, request, queryset):
        for patron in queryset.select_related("user")[:20]:
            pin = services.reset_pin(patron=patron)
            self.message_user(
                request,
                _("New PIN for %(card)s: %(pin)s") % {"card": patron.card_number, "pin": pin},
                messages.WARNING,
            )


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "branch"]
    list_filter = ["role", "branch"]


@admin.register(SignInFailures)
class SignInFailuresAdmin(admin.ModelAdmin):
    """Deleting a row unlocks that name (or that name from that address)."""

    list_display = ["username", "failures", "locked_until", "updated_at"]
    search_fields = ["username"]
    readonly_fields = ["username", "failures", "locked_until", "updated_at"]

    def has_add_permission(self, request):
        return False
