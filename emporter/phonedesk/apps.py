from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PhoneDeskConfig(AppConfig):
    name = "emporter.phonedesk"
    verbose_name = _("Phone desk")
