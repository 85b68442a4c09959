"""The notices' periodic work: compose from events, send what is due, flag stale sends."""

from django.tasks import task

from . import compose, outbox


@task
def send_notice(notice_id: int) -> str | None:
    return outbox.send_one(notice_id)


def run_outbox() -> dict[str, int]:
    return {
        "composed": compose.compose_all(),
        "sent": outbox.send_due(),
        "uncertain": outbox.recover_stale(),
    }
