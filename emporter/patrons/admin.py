from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services, throttle
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
    """Deleting a row unlocks what it counts: a staff name, a card, an address (from one
    address, or from anywhere). A card has two rows, both to delete to unlock it."""

    list_display = ["counted", "whose", "where", "failures", "locked", "locked_until", "updated_at"]
    search_fields = ["username"]
    readonly_fields = ["username", "failures", "locked_until", "updated_at"]
    actions = ["unlock"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("what is counted"))
    def counted(self, row):
        return throttle.describe(row.username)[0]

    @admin.display(description=_("card or name"))
    def whose(self, row):
        return throttle.describe(row.username)[1] or "—"

    @admin.display(description=_("address"))
    def where(self, row):
        return throttle.describe(row.username)[2] or "—"

    @admin.display(description=_("locked"), boolean=True)
    def locked(self, row):
        # A locked row's count starts again at 0: "locked" says what the count does not.
        return bool(row.locked_until and row.locked_until > timezone.now())

    @admin.action(description=_("Unlock (a card: from every address)"))
    def unlock(self, request, queryset):
        count = queryset.count()
        keys = list(queryset.values_list("username", flat=True))
        for card in {throttle.describe(key)[1] for key in keys if key.startswith("!pin ")}:
            throttle.pin_succeeded(card)
        for name in {throttle.describe(key)[1] for key in keys if not key.startswith("!")}:
            throttle.unlock_name(name)
        queryset.delete()
        text = ngettext("%(n)s count deleted.", "%(n)s counts deleted.", count) % {"n": count}
        self.message_user(request, text)
