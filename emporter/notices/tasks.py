"""The notices' periodic work: compose from events, send what is due, flag stale sends."""

from . import compose, outbox

# How long one pass may go on sending while notices are due. On a morning with 25,000
# "ready" emails, a single batch of 100 every 15 seconds would take an hour; sending on
# for most of a minute keeps one connection busy (the other jobs wait that long, and
# the notice being sent, at most).
SEND_SECONDS = 45


def run_outbox() -> dict[str, int]:
    return {
        "composed": compose.compose_all(),
        "sent": outbox.send_due(seconds=SEND_SECONDS),
        "uncertain": outbox.recover_stale(),
    }
