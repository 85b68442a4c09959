from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PickingConfig(AppConfig):
    name = "emporter.picking"
    verbose_name = _("Morning pull")
