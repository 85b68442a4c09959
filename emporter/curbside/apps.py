from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CurbsideConfig(AppConfig):
    name = "emporter.curbside"
    verbose_name = _("Pickup appointments")
