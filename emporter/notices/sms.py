"""SMS behind the same outbox: a provider is a class with ``send(to, text)``.

``SMS_PROVIDER`` names it; the default console provider logs the message, for
development and tests, until a real gateway is chosen. A real provider must give its
HTTP calls a timeout (a few seconds): the outbox sends from the scheduler, and a
gateway that hangs would hold every other job. A timeout is an ``OSError`` and is
retried later; an answer saying the number is wrong should raise
``outbox.PermanentFailure("no_phone")``."""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("emporter.sms")
outbox: list[tuple[str, str]] = []  # what the console provider "sent", for tests


class ConsoleProvider:
    def send(self, *, to: str, text: str) -> None:
        outbox.append((to, text))
        log.info("SMS to %s: %s", to, text)


def send(*, to: str, text: str) -> None:
    provider = import_string(settings.SMS_PROVIDER)()
    provider.send(to=to, text=text)
