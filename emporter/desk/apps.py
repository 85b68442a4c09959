from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    name = "emporter.desk"
    verbose_name = _("Door and circulation")
