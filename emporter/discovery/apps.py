from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DiscoveryConfig(AppConfig):
    name = "emporter.discovery"
    verbose_name = _("Discovery")

    def ready(self):
        from emporter.holds import policy

        from .selectors import promised_places

        # An open surprise bag holds its places: the basket does not hand them out (the
        # librarian composing it would meet the limit on every document).
        if promised_places not in policy.PROMISED:
            policy.PROMISED.append(promised_places)
