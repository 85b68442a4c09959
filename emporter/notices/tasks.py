"""The notices' periodic work: compose from events, send what is due, flag stale sends."""

from . import compose, outbox


def run_outbox() -> dict[str, int]:
    return {
        "composed": compose.compose_all(),
        "sent": outbox.send_due(),
        "uncertain": outbox.recover_stale(),
    }
