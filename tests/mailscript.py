"""A mail backend for tests: keeps what it is given, and fails on demand
(``Script.fail(message)`` may raise before the message counts as accepted). In a module
of its own: Django imports the backend by its dotted path, and a test module imported
twice (by pytest and by that path) would have two ``Script`` classes."""

import copy

from django.core.mail.backends.base import BaseEmailBackend


class Script:
    """What the scripted backend was given, and how it fails (``fail(message)``)."""

    sent: list = []
    fail = None


class ScriptedBackend(BaseEmailBackend):
    def send_messages(self, messages):
        for message in messages:
            message.message()
            if Script.fail:
                Script.fail(message)
            Script.sent.append(copy.deepcopy(message))
        return len(messages)
