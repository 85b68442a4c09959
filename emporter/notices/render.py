"""Rendering a notice in the patron's language: subject, plain text and HTML.

Staff may replace the shipped wording (``NoticeTemplate``). Their wording is tried
with sample values before it is saved (``wording_error``); should it still fail on a
real notice, the shipped wording is used instead, so the patron is told all the same."""

import dataclasses
import datetime
import functools
import logging
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.template import Context, Engine
from django.template.base import FilterExpression, Lexer, TokenType
from django.template.defaulttags import FirstOfNode, ForNode, IfChangedNode, IfNode, RegroupNode
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext

from emporter.catalogue.models import Record
from emporter.dates import long_date
from emporter.holds.models import ACTIVE, Bag, Request, RequestEvent, Status
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import Patron

from . import sms
from .models import Kind, Notice, NoticeTemplate

log = logging.getLogger("emporter.notices")


@dataclasses.dataclass
class Rendered:
    subject: str
    text: str
    html: str
    # Why the staff wording was set aside for the shipped one ("" when it was not).
    fallback_reason: str = ""
    # A text message's words (``_sms``): the subject, and what a patron who chose texts
    # would otherwise miss (a bag's label and last day, what could not be found, the
    # document cancelled, a link to their account), in GSM-7, in one segment if it can.
    sms: str = ""
    # The language it is written in (its reader's): said to mail clients and on staff pages.
    language: str = ""
    # Where a reply goes: the library's own address, when it has one (the sender is the
    # network's, usually a no-reply one, and the emails say "contact us").
    reply_to: str = ""


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def context_for(notice: Notice) -> dict:
    if notice.kind == Kind.RECEIPT:
        return _receipt_context(notice)
    if notice.kind == Kind.SURPRISE_CANCELLED:
        return _surprise_context(notice)
    told = Request.objects.filter(pk__in=notice.events.values("request_id"))
    if notice.kind == Kind.EXPIRED:
        # A document lent at the door after its bag expired (desk.services.lend_expired),
        # while mail trouble held this email, is at home: not "back on the shelves".
        told = told.filter(loan__isnull=True)
    if notice.kind == Kind.CONFIRMATION:
        # Held back by mail trouble while the patron cancelled one (or one was closed):
        # "registered" only of those still under way.
        told = told.filter(status__in=ACTIVE)
    requests = list(told.select_related("record", "pickup_branch", "bag__branch").order_by("record__title"))
    if notice.bag_id:
        # A bag's reminder names everything still waiting in it, not only what an event says.
        in_bag = Request.objects.filter(bag_id=notice.bag_id, status=Status.READY).select_related(
            "record", "pickup_branch"
        )
        requests = sorted({r.pk: r for r in [*requests, *in_bag]}.values(), key=lambda r: r.record.title)
    branch = notice.bag.branch if notice.bag_id else (requests[0].pickup_branch if requests else None)
    if notice.kind == "pickup_closed":
        # The library that closed, and only what is still to be collected there (the
        # patron may have chosen another library for some before the email went).
        event = notice.events.select_related("branch").first()
        branch = event.branch if event and event.branch_id else branch
        requests = [r for r in requests if r.is_active and r.pickup_branch_id == getattr(branch, "pk", None)]
        context = _context(notice, requests, branch, [])
        # Only what can still be moved is offered another library: not a copy already on
        # its way there, nor anything when no library takes requests (all in normal service).
        elsewhere = Branch.objects.accepting_requests().exists()
        movable = [r for r in context["placed"] if elsewhere and _movable(r)]
        context["placed"], context["waiting_there"] = (
            movable,
            [r for r in context["placed"] if r not in movable],
        )
        return context
    context = _context(notice, requests, branch, _hours(branch), _reasons(notice))
    if notice.kind == Kind.TIME_CANCELLED:
        context["cancelled_time"] = _cancelled_time(notice)
    return context


def _surprise_context(notice: Notice) -> dict:
    """The surprise bag cancelled: how many documents, for which library, and whether
    another library takes requests (to ask again there)."""
    surprise = notice.surprise
    branch = surprise.pickup_branch if surprise else None
    return _context(notice, [], branch, []) | {
        "how_many": surprise.how_many if surprise else 0,
        "elsewhere": Branch.objects.accepting_requests().exists(),
        "surprise_url": settings.SITE_URL + reverse("discovery:surprise"),
    }


def _receipt_context(notice: Notice) -> dict:
    """The loans a door receipt names, and what the household left in a bag there (a
    partial hand-over), as the printed receipt shows them."""
    from emporter.desk.selectors import still_waiting  # the printed receipt's rule

    loans = list(
        notice.loans.select_related("copy__record", "branch", "patron").order_by(
            "due_date", "copy__record__title"
        )
    )
    branch = loans[0].branch if loans else None
    waiting = still_waiting(patron=notice.patron, branch=branch) if branch else []
    context = _context(notice, [], branch, _hours(branch))
    to = recipient(notice) or notice.patron
    return context | {
        # Whose documents they are, when not the reader's own (a child's, their guardian's).
        "for_child": None,
        "loans": [_loan_line(loan.copy.record.title, loan.due_date, loan.patron, to) for loan in loans],
        "in_bag": [r for r in waiting if r.bag_id and r.hold_until],
        "checked_out_at": max((timezone.localtime(loan.checked_out_at) for loan in loans), default=None),
    }


def _loan_line(title: str, due: datetime.date, borrower: Patron | None, reader: Patron) -> dict:
    # Whose document it is, when not the reader's own (a child's, read by their guardian).
    of = borrower.first_name if borrower is not None and borrower.pk != reader.pk else ""
    return {"title": title, "due_date": due, "borrower": of}


def _cancelled_time(notice: Notice) -> datetime.datetime | None:
    """When the patron was to come: the start of the bag's pickup time last cancelled."""
    from emporter.curbside.models import Appointment

    appointment = (
        Appointment.objects.filter(
            bag_id=notice.bag_id, state=Appointment.State.CANCELLED, slot__isnull=False
        )
        .select_related("slot")
        .order_by("-closed_at", "-pk")
        .first()
    )
    return timezone.localtime(appointment.slot.starts_at) if appointment else None


def _movable(request: Request) -> bool:
    from emporter.holds.services import pickup_changeable  # the rule the account page applies

    return pickup_changeable(request)


def _reasons(notice: Notice) -> dict[int, str]:
    """Why the library cancelled each request the notice tells of (the note given), by
    request; only for a cancellation: other notices say nothing of an event's note."""
    if notice.kind != Kind.CANCELLED:
        return {}
    events = notice.events.filter(to_status=Status.CANCELLED).order_by("at", "pk")
    return {request_id: note.strip() for request_id, note in events.values_list("request_id", "note")}


def recipient(notice: Notice):
    """Who is written to (``Patron.written_to``): the patron, their guardian, or None."""
    return notice.patron.written_to(notice.channel)


def _context(
    notice: Notice,
    requests: list[Request],
    branch: Branch | None,
    hours,
    reasons: dict[int, str] | None = None,
) -> dict:
    to = recipient(notice) or notice.patron
    others = _others(notice, requests, branch)
    cancelled = [r for r in requests if r.status == Status.CANCELLED]
    cancellations = [(r, (reasons or {}).get(r.pk, "")) for r in cancelled]
    distinct = list(dict.fromkeys(note for _, note in cancellations if note))
    return {
        "patron": notice.patron,
        # A child's notices go to their guardian: greeted by name, told whose they are.
        "greeting_name": to.first_name,
        "for_child": notice.patron if to.pk != notice.patron.pk else None,
        "notice": notice,
        "requests": requests,
        "ready": [r for r in requests if _waiting(r, timezone.localdate())],
        "not_found": [r for r in requests if r.status == Status.NOT_FOUND],
        "cancelled": cancelled,
        # Each cancelled request with the reason given for it ("" when none was), the
        # distinct reasons, and the one reason they all share ("" when they do not all
        # share one): told once under the list, or beside each title when they differ.
        "cancellations": cancellations,
        "reasons": distinct,
        "common_reason": distinct[0] if len(distinct) == 1 and all(n for _, n in cancellations) else "",
        "expired": [r for r in requests if r.status == Status.EXPIRED],
        "placed": [r for r in requests if r.status in (Status.PLACED, Status.WAITING)],
        "waiting_there": [],
        # On the waiting list (no copy yet: nothing to pull, no bag soon), and the rest:
        # the confirmation promises a bag soon only for the latter.
        "waiting": [r for r in requests if r.status == Status.WAITING],
        "set_aside": [r for r in requests if r.status == Status.PLACED],
        "to_prepare": [r for r in requests if r.status != Status.WAITING],
        # The patron's other documents at this branch: those set aside will follow; those
        # on the waiting list have no copy yet, and are not said to be on their way.
        "coming": [r for r in others if r.status == Status.PLACED],
        "still_waiting": [r for r in others if r.status == Status.WAITING],
        "bag": notice.bag,
        "hold_until": notice.bag.hold_until if notice.bag_id else None,
        # Written on the bag's last day (a one-day hold, a missed eve, a retry after
        # midnight), a reminder says "until today", not "tomorrow".
        "last_day": bool(notice.bag_id and notice.bag.hold_until == timezone.localdate()),
        "branch": branch,
        "hours": hours,
        # A closed library is not shown as where to go (address, hours) in the footer.
        "branch_closed": branch is not None and branch.service_mode == ServiceMode.CLOSED,
        "site_url": settings.SITE_URL,
        # In the patron's language (rendering runs under it): /en/account/ for English.
        "account_url": settings.SITE_URL + reverse("patrons:account"),
        "search_url": settings.SITE_URL + reverse("catalogue:search"),
        "times_url": _times_url(notice),
        "note": notice.note,
    }


def _waiting(request: Request, today: datetime.date) -> bool:
    """Ready and still to be collected: within its deadline, or at a closed library (its
    bags get their days back when it reopens). The outbox's rule too (outbox._still_waiting):
    a late email does not announce a document past its deadline."""
    return request.status == Status.READY and (
        request.hold_until is None
        or request.hold_until >= today
        or request.pickup_branch.service_mode == ServiceMode.CLOSED
    )


def _times_url(notice: Notice) -> str:
    """Where to choose a time to collect the bag, when its library offers pickup times."""
    from emporter.curbside.models import PickupSettings

    if (
        not notice.bag_id
        or not notice.bag.pk
        or not PickupSettings.objects.filter(branch_id=notice.bag.branch_id).exists()
    ):
        return ""
    return settings.SITE_URL + reverse("curbside:times", args=[notice.bag_id])


def _others(notice: Notice, requests: list[Request], branch: Branch | None) -> list[Request]:
    """The patron's other requests under way at this branch, not yet ready (placed or
    waiting), for a "ready" notice: so nobody wonders whether they were forgotten."""
    if notice.kind != "ready" or branch is None or not notice.patron.pk:
        return []
    told = {r.pk for r in requests}
    return [
        r
        for r in Request.objects.filter(
            patron=notice.patron, pickup_branch=branch, status__in=(Status.PLACED, Status.WAITING)
        )
        .select_related("record")
        .order_by("record__title")
        if r.pk not in told
    ]


def _hours(branch: Branch | None) -> list[tuple[str, str]]:
    if branch is None:
        return []
    days: dict[str, list[str]] = {}
    for h in branch.hours.all():
        days.setdefault(h.get_weekday_display(), []).append(f"{h.opens:%H:%M}–{h.closes:%H:%M}")
    return [(day, ", ".join(spans)) for day, spans in days.items()]


def render(notice: Notice) -> Rendered:
    # In the language of whoever reads it: a child's notices go to the guardian.
    language = (recipient(notice) or notice.patron).language or settings.LANGUAGE_CODE
    with translation.override(language):
        context = context_for(notice)
        kind = told_as(notice, context)
        override = NoticeTemplate.objects.filter(kind=kind, language=language).first()
        if override is None:
            rendered = _render_shipped(kind, context)
        else:
            try:
                rendered = _render_override(override, context)
            except Exception as error:
                # Saved before wording was checked, or failing only on this notice's data.
                log.warning("notice %s: staff wording %s set aside: %s", notice.pk, override.pk, error)
                rendered = dataclasses.replace(
                    _render_shipped(kind, context), fallback_reason=describe(error)
                )
        return dataclasses.replace(
            rendered,
            sms=_sms(notice, kind, rendered.subject, context),
            language=language,
            reply_to=_reply_to(context["branch"]),
        )


def _reply_to(branch: Branch | None) -> str:
    # Checked as the admin checks it: a bad one (a line break) would fail the message, and
    # the outbox would take it for the patron's address.
    try:
        validate_email(branch.email if branch is not None else "")
    except ValidationError:
        return ""
    return branch.email


# Staff wording that names the child itself: by ``for_child``, or as the patron (the
# context's patron is the child whose documents they are).
NAMES_THE_CHILD = re.compile(r"for_child|patron\.first_name")


def _whose(subject: str, context: dict, *, source: str = "") -> str:
    """The subject, naming the child when the documents are a child's, read by their
    guardian: one who collects for themselves and a child at one library gets two emails
    (two bags) and must tell them apart, in the inbox and in a text message. Staff wording
    whose subject (its ``source``) names the child already is left as it is; decided on
    the wording, not on the words: Jean at "Saint-Jean" is named all the same."""
    child = context.get("for_child")
    name = child.get("first_name", "") if isinstance(child, dict) else getattr(child, "first_name", "")
    if not name or NAMES_THE_CHILD.search(source):
        return subject
    return translation.gettext("For %(name)s: %(subject)s") % {"name": name, "subject": subject}


# The kinds whose text message names the document, when they tell of one: the list of
# the context it is in.
NAMED_IN_TEXT = {
    Kind.CANCELLED: "cancelled",
    Kind.NOT_FOUND: "not_found",
    Kind.EXPIRED: "expired",
    Kind.WAITING_AGAIN: "waiting",
}
# The shortest a title is cut to, to keep a text in one segment.
SHORTEST_TITLE = 16


def _sms(notice: Notice, kind: str, subject: str, context: dict) -> str:
    """A text message's words (in the reader's language: called within render's
    override), in the GSM-7 alphabet and, where it can be, one segment: the subject (the
    staff's, when they wrote one), then what the patron needs without the email: a bag's
    label and last day, how many documents could not be found, the one document a
    cancellation (a not-found, an expiry, a return to the waiting list) tells of, and
    where to read more (their account). Too long, a bag's
    text leaves out the link, any other cuts the title; then a long library name loses
    words in its middle. Never a date nor a bag's label."""
    bag = notice.bag if kind in (Kind.READY, Kind.REMINDER) else None
    title = ""
    if (listed := NAMED_IN_TEXT.get(kind)) and len(context.get(listed) or []) == 1:
        title = context[listed][0].record.title
    not_found = len(context["not_found"]) if kind == Kind.READY and context["ready"] else 0
    name = " ".join((getattr(context.get("branch"), "name", "") or "").split())  # (as in the subject)
    # The confirmation answers what the patron has just done: its subject says it all.
    link = "" if kind == Kind.CONFIRMATION else f"{gettext('My requests:')} {context['account_url']}"

    def words(title_said: str, name_said: str, link: str) -> str:
        head = subject.replace(name, name_said) if name else subject
        if bag is not None and bag.hold_until:
            date = long_date(bag.hold_until, "l j F")
            values = {"subject": head, "label": bag.label, "date": date}
            if date in head:  # a reminder's subject says until when already
                said = gettext("%(subject)s: bag %(label)s.") % values
            else:
                said = gettext("%(subject)s: bag %(label)s, until %(date)s.") % values
        elif title_said:
            said = gettext("%(subject)s: %(title)s.") % {"subject": head, "title": title_said}
            said = re.sub(r"([.!?…])\.$", r"\1", said)  # "Qui a peur ?", not "?."
        else:
            said = head
        more = [link] if link else []
        if not_found:
            found_not = ngettext(
                "We could not find %(n)s other document.",
                "We could not find %(n)s other documents.",
                not_found,
            )
            more.insert(0, found_not % {"n": not_found})
        if more and said and said[-1] not in ".!?…":
            said += "."  # (a subject alone, as the confirmation's, has no full stop)
        return sms.gsm7(" ".join([said, *more]))

    # Shorter and shorter: the title cut at its end, the name in its middle (its first
    # word, and as many of its last as fit: "Médiathèque ... Vaise et de l'Industrie").
    titles = [title] + [sms.shorten(title, room) for room in range(len(title) - 1, SHORTEST_TITLE - 1, -1)]
    first, *rest = name.split() or [""]
    names = [name, *(f"{first} ... {' '.join(rest[-n:])}" for n in range(len(rest) - 2, 0, -1))]
    names = names if name and name in subject else [name]
    if bag is not None:
        tries = [(title, name, link), *((title, n, "") for n in names)]
    else:
        tries = [*((t, name, link) for t in titles), *((titles[-1], n, link) for n in names[1:])]
    # (the first that fits; none does: the whole text, in two segments)
    return next((text for text in (words(*values) for values in tries) if sms.fits(text)), words(*tries[0]))


def told_as(notice: Notice, context: dict) -> str:
    """The wording a notice is written in: its kind's, except for a "ready" email left
    with nothing to collect (collected or cancelled before a late email went) that also
    tells what could not be found: that part alone is told, as a not-found notice.
    (The outbox skips one that tells nothing else.)"""
    if notice.kind == Kind.READY and not context["ready"] and context["not_found"]:
        return Kind.NOT_FOUND
    return notice.kind


def _render_shipped(kind: str, context: dict) -> Rendered:
    base = f"notices/email/{kind}"
    subject = _whose(" ".join(render_to_string(f"{base}_subject.txt", context).split()), context)
    text = render_to_string(f"{base}.txt", context)
    # The subject is also the HTML page's title (mail clients show it, screen readers read it).
    html = render_to_string(f"{base}.html", context | {"subject": subject})
    return Rendered(subject=subject, text=text.strip() + "\n", html=html)


# Staff wording is written by whoever may edit notice templates, and a template follows
# relations and calls methods: given a patron object, it could list every patron's card,
# email and PIN hash into each email. It reads plain values instead (what each model
# below may show, nothing else), in an engine that loads no tag library but translation
# and no template but the built-in wording's footer and HTML frame (it starts from them).
STAFF_FIELDS = {
    Request: ("record", "record_id", "status", "get_status_display", "hold_until", "bag", "pickup_branch"),
    Record: ("id", "title", "responsibility"),
    Bag: ("label", "hold_until", "branch"),
    Branch: ("name", "address", "phone", "email"),
    Patron: ("first_name", "last_name"),
    # events: for wording written before ``cancellations`` ({% for e in notice.events.all %}).
    Notice: ("kind", "get_kind_display", "events"),
    RequestEvent: ("note", "to_status", "at"),
}
PLAIN_TYPES = (str, int, float, bool, datetime.date, datetime.time, type(None))
# The built-in wording's own parts, which staff wording copied from it includes or extends.
STAFF_INCLUDES = (
    "notices/email/_footer.txt",
    "notices/email/_base.html",
    "notices/email/_contact.txt",  # (the two above include them)
    "notices/email/_contact.html",
)


@functools.cache
def staff_engine(unknown: str = "") -> Engine:
    """``unknown``: what a value that cannot be read renders as ("" when sending)."""
    parts = {name: get_template(name).template.source for name in STAFF_INCLUDES}
    return Engine(
        libraries={"i18n": "django.templatetags.i18n"},
        builtins=["emporter.dates"],
        loaders=[("django.template.loaders.locmem.Loader", parts)],
        string_if_invalid=unknown,
    )


# Marks, in a trial rendering, each value the wording reads that does not exist.
UNKNOWN = "\x00%s\x00"
UNKNOWN_FOUND = re.compile("\x00([^\x00]*)\x00")


def plain(value):
    """``value`` as staff wording may read it: models as dicts of their STAFF_FIELDS
    (None for any other model), containers converted throughout, lazy text as text."""
    if isinstance(value, models.Model):
        fields = STAFF_FIELDS.get(type(value))
        return None if fields is None else {name: plain(_read(value, name)) for name in fields}
    if isinstance(value, models.Manager):  # a relation STAFF_FIELDS names: its rows, as "all"
        unsaved = value.instance._state.adding  # sample_context's: nothing to read
        return {"all": [] if unsaved else [plain(row) for row in value.all()]}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(item) for item in value)
    if isinstance(value, Promise):
        return str(value)
    return value if isinstance(value, PLAIN_TYPES) else None


def _read(instance: models.Model, name: str):
    # A display method (get_status_display) is read as its value: the template would
    # call it on the object, and finds a dict instead.
    value = getattr(instance, name)
    return value() if callable(value) and name.startswith("get_") else value


def _render_override(override: NoticeTemplate, context: dict) -> Rendered:
    context, engine = plain(context), staff_engine()
    # The subject and the plain text are not HTML: escaped, an apostrophe would reach the
    # patron as "&#x27;". Only the HTML part is escaped.
    subject = engine.from_string(override.subject).render(Context(context, autoescape=False))
    subject = _whose(" ".join(subject.split()), context, source=override.subject)
    text = engine.from_string(override.body_text).render(Context(context, autoescape=False))
    if override.body_html:
        html = engine.from_string(override.body_html).render(Context(context | {"subject": subject}))
    else:
        # (the frame escapes the text itself: a title's markup is shown, not obeyed)
        html = render_to_string("notices/email/_plain_as_html.html", {"text": text, "subject": subject})
    return Rendered(subject=subject, text=text.strip() + "\n", html=html)


def shipped_source(kind: str) -> str:
    """The built-in plain-text wording of ``kind``, as written (template language)."""
    return get_template(f"notices/email/{kind}.txt").template.source


def wording_error(source: str, *, kind: str, language: str) -> str:
    """Why staff wording cannot be used ("" when it can): it is compiled, then rendered
    with sample values, so that a mistake shows only at sending time (an unknown page in
    ``{% url %}``, a missing ``{% include %}``) is caught too."""
    context = plain(sample_context(kind)) | {"subject": "…"}  # (an HTML body's title)
    # Read once for an adult and once for a child's guardian: what only one of them is
    # given ({{ for_child.first_name }}) is a value all the same.
    for_a_child = context | {"for_child": {"first_name": "Léo", "last_name": "Martin"}}
    found = []
    with translation.override(language):
        for values in (context, for_a_child):
            misses = set()
            try:
                template = staff_engine(UNKNOWN).from_string(source)
                _watch_tests(template, misses)
                rendered = template.render(Context(values))
            except Exception as error:
                return describe(error)
            found.append(set(UNKNOWN_FOUND.findall(rendered)) | misses)
    if unclosed := _unclosed_tag(source):
        said = gettext("A tag is left unclosed (a sign missing), and would be sent as written: “%(line)s”")
        return said % {"line": unclosed}
    # A value it cannot read would go out empty: {{ patron.card_number }} is not given.
    unknown = sorted(found[0] & found[1])
    if unknown:
        names = ", ".join(f"{{{{ {name} }}}}" for name in unknown)
        return ngettext(
            "%(names)s is not a value it can read", "%(names)s are not values it can read", len(unknown)
        ) % {"names": names}
    return ""


# A tag's mark in the wording's text: "{{ name }" (a brace missing) is no tag to Django
# but plain text, which every patron would read as such. Style sheets are left out: CSS
# writes "width:100%}" and "{p{font-size:18px}}" as a matter of course.
TAG_MARK = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
STYLE = re.compile(r"<style\b.*?</style\s*>|\bstyle\s*=\s*(?:\"[^\"]*\"|'[^']*')", re.IGNORECASE | re.DOTALL)


def _unclosed_tag(source: str) -> str:
    """The line of the wording's text (outside its tags and style sheets) where a tag's
    mark is left, cut short; "" when none is."""
    for token in Lexer(STYLE.sub(" ", source)).tokenize():
        if token.token_type == TokenType.TEXT and (found := TAG_MARK.search(token.contents)):
            text = token.contents
            start = text.rfind("\n", 0, found.start()) + 1
            line = text[start:].split("\n", 1)[0].strip()
            return line if len(line) <= 80 else line[:79] + "…"
    return ""


class _Watched:
    """A value {% if %}, {% for %}, {% regroup %}, {% firstof %} or {% ifchanged %} reads,
    in a trial rendering. Those tags take a value that does not exist as empty, without
    the marker: ``{% if patron.card_number %}`` would hide its part for good. This one
    notes the miss, then answers as they would."""

    def __init__(self, expression: FilterExpression, misses: set):
        self.expression, self.misses = expression, misses

    def resolve(self, context, ignore_failures=False):
        value = self.expression.resolve(context)  # the marker when it cannot be read
        missed = UNKNOWN_FOUND.fullmatch(value) if isinstance(value, str) else None
        if missed:
            self.misses.add(missed[1])
            return None
        return value


def _watch_tests(template, misses: set) -> None:
    nodes = template.nodelist
    for node in nodes.get_nodes_by_type(ForNode):
        node.sequence = _Watched(node.sequence, misses)
    for node in nodes.get_nodes_by_type(RegroupNode):
        node.target = _Watched(node.target, misses)
    for node in nodes.get_nodes_by_type(FirstOfNode):
        node.vars = [_Watched(value, misses) for value in node.vars]
    for node in nodes.get_nodes_by_type(IfChangedNode):
        node._varlist = [_Watched(value, misses) for value in node._varlist]
    for node in template.nodelist.get_nodes_by_type(IfNode):
        for condition, _ in node.conditions_nodelists:
            _watch_operands(condition, misses)


def _watch_operands(condition, misses: set) -> None:
    # A condition is a tree of operators ("and", "not", "==") over literals.
    if condition is None:  # {% else %}
        return
    if isinstance(getattr(condition, "value", None), FilterExpression):
        condition.value = _Watched(condition.value, misses)
    for operand in (getattr(condition, "first", None), getattr(condition, "second", None)):
        _watch_operands(operand, misses)


def sample_context(kind: str) -> dict:
    """Values shaped like ``context_for``'s, one document in each status, so that every
    loop of a wording runs. Nothing is saved: the objects' pk is set only so that their
    relations answer (empty) instead of refusing an unsaved object."""
    branch = Branch(pk=0, code="PDI", name="Part-Dieu", address="30 boulevard Vivier-Merle\n69003 Lyon")
    patron = Patron(
        pk=0,
        card_number="10000001",
        first_name="Camille",
        last_name="Martin",
        email="camille.martin@example.org",
        home_branch=branch,
    )
    hold_until = timezone.localdate() + datetime.timedelta(days=5)
    bag = Bag(pk=0, branch=branch, patron=patron, label="A12", hold_until=hold_until)
    notice = Notice(pk=0, patron=patron, kind=kind, bag=bag)
    requests = [
        Request(
            pk=n,
            patron=patron,
            record=Record(pk=n, title=f"Document {n}", responsibility="Anne Autrice"),
            pickup_branch=branch,
            status=status,
            bag=bag,
            hold_until=hold_until,
        )
        for n, status in enumerate(Status, start=1)
    ]
    reasons = {r.pk: "Document abîmé" for r in requests}
    context = _context(notice, requests, branch, [("lundi", "10:00–19:00")], reasons)
    context["cancelled_time"] = timezone.localtime() + datetime.timedelta(days=1)
    if kind == Kind.SURPRISE_CANCELLED:
        context |= {
            "how_many": 3,
            "elsewhere": True,
            "surprise_url": settings.SITE_URL + "/discover/surprise/",
        }
    if kind == Kind.RECEIPT:
        child = Patron(pk=1, first_name="Léo", last_name="Martin", home_branch=branch)
        due = timezone.localdate() + datetime.timedelta(days=28)
        context |= {
            "loans": [
                _loan_line(requests[0].record.title, due, patron, patron),
                _loan_line(requests[1].record.title, due, child, patron),
            ],
            "in_bag": [r for r in requests if r.status == Status.READY],
            "checked_out_at": timezone.localtime(),
        }
    return context
