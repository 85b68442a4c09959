from django.apps import AppConfig
from django.core import checks
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


class PatronsConfig(AppConfig):
    name = "emporter.patrons"
    verbose_name = _("Patrons and staff")

    def ready(self):
        from emporter.folding import register_sqlite_fold

        from .checks import proxies_are_trusted

        checks.register(proxies_are_trusted, checks.Tags.security, deploy=True)
        connection_created.connect(register_sqlite_fold, dispatch_uid="patrons_sqlite_fold")
