"""The admin site: Django's, closed to a card's account whatever flags it is given (it
signs in with a four-digit PIN: ``patrons.permissions.is_patron_account``)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class EmporterAdminSite(admin.AdminSite):
    def has_permission(self, request) -> bool:
        # Here, not at the top: this module is loaded with INSTALLED_APPS, before models.
        from emporter.patrons.permissions import is_patron_account

        return super().has_permission(request) and not is_patron_account(request.user)


class EmporterAdminConfig(AdminConfig):
    default_site = "emporter.admin_site.EmporterAdminSite"
