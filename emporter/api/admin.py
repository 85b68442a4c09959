from django.contrib import admin

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be seen and revoked (deleted) here, never created: the clear value is
    only ever shown to whoever signs in."""

    list_display = ["prefix", "user", "scope", "created_at", "last_used_at", "expires_at"]
    list_filter = ["scope"]
    search_fields = ["user__username", "prefix"]
    readonly_fields = ["user", "scope", "prefix", "created_at", "last_used_at", "expires_at"]

    def has_add_permission(self, request):
        return False
