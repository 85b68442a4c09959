from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "emporter.notices"
    verbose_name = _("Notices")

    def ready(self):
        from .checks import links_and_sender_are_public, retention_is_long_enough, sms_are_really_sent

        checks.register(retention_is_long_enough)
        checks.register(sms_are_really_sent, checks.Tags.compatibility, deploy=True)
        checks.register(links_and_sender_are_public, checks.Tags.compatibility, deploy=True)
