"""Staff pages: the outbox (the notices a manager may read, their state, attempts and
last error, with resend) and, in the demo, the mailbox of the local mail sink."""

import datetime
import email
import email.policy
import email.utils
import logging
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from emporter.http import post_only
from emporter.inputs import typed
from emporter.patrons.permissions import role_required

from . import outbox as sender
from . import selectors
from .models import State

PAGE = 100

audit = logging.getLogger("emporter.audit")


@role_required(selectors.ROLE)
def outbox(request):
    notices = selectors.visible_notices(request.user).select_related("patron").order_by("-created_at")
    state = request.GET.get("state", "")
    if state in State.values:
        notices = notices.filter(state=state)
    q = typed(request.GET.get("q"))
    if q:
        # Who looked at whom (what they were sent, and where), as the phone desk writes it.
        audit.info("outbox: %s searched patrons %r", request.user.pk, q)
        notices = notices.filter(
            Q(patron__card_number__iexact=q)
            | Q(patron__last_name__icontains=q)
            | Q(patron__email__icontains=q)
        )
    context = {
        "notices": notices[:PAGE],
        "states": State.choices,
        "state": state,
        "q": q,
        "sink": _sink_folder() is not None,
        "uncertain": selectors.uncertain_to_check(request.user).count(),
    }
    return render(request, "notices/outbox.html", context)


@post_only
@role_required(selectors.ROLE)
def resend(request, notice_id: int):
    notice = get_object_or_404(selectors.visible_notices(request.user), pk=notice_id)
    if sender.resend(notice=notice):
        messages.success(request, _("The notice will be sent again within a minute."))
    else:
        messages.error(request, _("Only failed or uncertain notices can be sent again."))
    return redirect("notices:outbox")


def _sink_folder() -> Path | None:
    config = settings.MAILERS.get("default", {})
    if config.get("BACKEND", "").endswith("filebased.EmailBackend"):
        return Path(config.get("OPTIONS", {}).get("file_path", ""))
    return None


@role_required(selectors.ROLE)
def mailbox(request):
    """What the local mail sink received (the demo has no mail server): for a branch's
    manager, only the mails of the notices they may read in the outbox."""
    folder = _sink_folder()
    if folder is None:
        raise PermissionDenied
    files = (
        sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)[:50]
        if folder.is_dir()
        else []
    )
    received = [
        email.message_from_bytes(raw.strip(), policy=email.policy.default)
        for path in files
        # The file backend writes each message followed by a line of dashes.
        for raw in path.read_bytes().split(b"-" * 79)
        if raw.strip()
    ]
    mails = []
    for message in _readable(request.user, received):
        body = message.get_body(("plain",))
        mails.append(
            {
                "to": message["To"],
                "subject": message["Subject"],
                "date": _sent_at(message["Date"]),
                "text": body.get_content() if body else "",
                "language": message["Content-Language"] or "",
            }
        )
    return render(request, "notices/mailbox.html", {"mails": mails[:50]})


def _sent_at(header) -> datetime.datetime | None:
    """The Date header, read as a moment (shown in words, local time), or None."""
    try:
        return email.utils.parsedate_to_datetime(str(header)) if header else None
    except (TypeError, ValueError):
        return None


def _readable(user, mails: list) -> list:
    """The mails ``user`` may read: those of the notices they may read, known by the
    Message-ID the outbox stored on each (outbox._message_id). For whoever sees every
    library too: the mail of a notice deleted since (its patron erased, the notice past
    its keeping time) is no longer shown."""
    ids = {_message_id(mail) for mail in mails} - {""}
    visible = set(
        selectors.visible_notices(user).filter(message_id__in=ids).values_list("message_id", flat=True)
    )
    return [mail for mail in mails if _message_id(mail) in visible]


def _message_id(mail) -> str:
    return str(mail["Message-ID"] or "").strip()
