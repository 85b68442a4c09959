from django.contrib import admin

from .models import Patron, StaffRole


@admin.register(Patron)
class PatronAdmin(admin.ModelAdmin):
    list_display = ["card_number", "last_name", "first_name", "home_branch", "category"]
    list_filter = ["home_branch", "category"]
    search_fields = ["card_number", "last_name", "first_name", "email", "phone_digits"]
    raw_id_fields = ["user", "guardian"]


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "branch"]
    list_filter = ["role", "branch"]
