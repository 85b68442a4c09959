"""The admin site: Django's, closed to a card's account whatever flags it is given (it
signs in with a four-digit PIN: ``patrons.permissions.is_patron_account``)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_tasks_db.apps import TasksAppConfig


class EmporterAdminSite(admin.AdminSite):
    def has_permission(self, request) -> bool:
        # Here, not at the top: this module is loaded with INSTALLED_APPS, before models.
        from emporter.patrons.permissions import is_patron_account

        return super().has_permission(request) and not is_patron_account(request.user)


class EmporterAdminConfig(AdminConfig):
    default_site = "emporter.admin_site.EmporterAdminSite"


class TasksConfig(TasksAppConfig):
    """The task backend's app, named in the admin's language (its own name is English)."""

    verbose_name = _("Background tasks")


# Strings of Django's admin and of the task backend that this project's catalogue words
# (it is read before theirs): Django's French "Modification de %s" gives "Modification de
# exemplaire"; the task backend has no French. Marked here so that makemessages keeps them.
WORDED_HERE = (
    gettext_noop("Add %s"),
    gettext_noop("Change %s"),
    gettext_noop("View %s"),
    gettext_noop("Task Result"),
    gettext_noop("Task Results"),
    gettext_noop("enqueued at"),
    gettext_noop("started at"),
    gettext_noop("finished at"),
    gettext_noop("priority"),
    gettext_noop("queue name"),
    gettext_noop("task path"),
    gettext_noop("worker id"),
    gettext_noop("backend name"),
    gettext_noop("run after"),
    gettext_noop("return value"),
    gettext_noop("exception class path"),
    gettext_noop("traceback"),
    gettext_noop("args kwargs"),
)
