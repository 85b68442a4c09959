from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "emporter.privacy"
    verbose_name = _("Privacy")

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the checks)
