from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class PatronsConfig(AppConfig):
    name = "emporter.patrons"
    verbose_name = _("Patrons and staff")

    def ready(self):
        from .checks import proxies_are_trusted

        checks.register(proxies_are_trusted, checks.Tags.security, deploy=True)
