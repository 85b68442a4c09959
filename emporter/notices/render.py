"""Rendering a notice in the patron's language: subject, plain text and HTML."""

from dataclasses import dataclass

from django.conf import settings
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils import translation

from emporter.holds.models import Request, Status
from emporter.network.models import Branch

from .models import Notice, NoticeTemplate


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


def context_for(notice: Notice) -> dict:
    requests = list(
        Request.objects.filter(pk__in=notice.events.values("request_id"))
        .select_related("record", "pickup_branch", "bag")
        .order_by("record__title")
    )
    if notice.bag_id:
        # A bag's reminder names everything still waiting in it, not only what an event says.
        in_bag = Request.objects.filter(bag_id=notice.bag_id, status=Status.READY).select_related("record")
        requests = sorted({r.pk: r for r in [*requests, *in_bag]}.values(), key=lambda r: r.record.title)
    branch = notice.bag.branch if notice.bag_id else (requests[0].pickup_branch if requests else None)
    return {
        "patron": notice.patron,
        "notice": notice,
        "requests": requests,
        "ready": [r for r in requests if r.status == Status.READY],
        "not_found": [r for r in requests if r.status == Status.NOT_FOUND],
        "cancelled": [r for r in requests if r.status == Status.CANCELLED],
        "expired": [r for r in requests if r.status == Status.EXPIRED],
        "placed": [r for r in requests if r.status in (Status.PLACED, Status.WAITING)],
        "bag": notice.bag,
        "hold_until": notice.bag.hold_until if notice.bag_id else None,
        "branch": branch,
        "hours": _hours(branch),
        "site_url": settings.SITE_URL,
        "note": notice.note,
    }


def _hours(branch: Branch | None) -> list[tuple[str, str]]:
    if branch is None:
        return []
    days: dict[str, list[str]] = {}
    for h in branch.hours.all():
        days.setdefault(h.get_weekday_display(), []).append(f"{h.opens:%H:%M}–{h.closes:%H:%M}")
    return [(day, ", ".join(spans)) for day, spans in days.items()]


def render(notice: Notice) -> Rendered:
    language = notice.patron.language or settings.LANGUAGE_CODE
    with translation.override(language):
        context = context_for(notice)
        override = NoticeTemplate.objects.filter(kind=notice.kind, language=language).first()
        if override:
            return _render_override(override, context)
        base = f"notices/email/{notice.kind}"
        subject = render_to_string(f"{base}_subject.txt", context)
        text = render_to_string(f"{base}.txt", context)
        html = render_to_string(f"{base}.html", context)
    return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)


def _render_override(override: NoticeTemplate, context: dict) -> Rendered:
    ctx = Context(context)
    subject = Template(override.subject).render(ctx)
    text = Template(override.body_text).render(ctx)
    if override.body_html:
        html = Template(override.body_html).render(ctx)
    else:
        html = render_to_string("notices/email/_plain_as_html.html", {"text": text})
    return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)
