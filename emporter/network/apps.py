from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class NetworkConfig(AppConfig):
    name = "emporter.network"
    verbose_name = _("Library network")

    def ready(self):
        from emporter.checks import static_files_are_collected, translations_are_compiled

        # The network comes first in INSTALLED_APPS: the site's own checks are registered here.
        checks.register(translations_are_compiled, checks.Tags.translation, deploy=True)
        checks.register(static_files_are_collected, checks.Tags.staticfiles, deploy=True)
