"""Staff screens of the morning pull: runs per branch, the pick list (screen, print,
PDF), picking on a phone, receiving transfers, missing copies and bag labels.

Every form works without JavaScript; picking.js only keeps the scan box focused and
adds the camera where the browser has BarcodeDetector."""

import datetime
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from emporter.catalogue.models import Copy, CopyStatus, DocType
from emporter.errors import ServiceError
from emporter.holds.models import Status
from emporter.http import post_only, safe_next
from emporter.inputs import parse_id, typed
from emporter.network.models import Branch, Department
from emporter.patrons.models import Role
from emporter.patrons.permissions import branches_for, has_role, role_required

from . import selectors, services
from .models import LineStatus, NotFoundCause, PickLine, PickRun
from .tasks import builds_on

picker_required = role_required(Role.PICKER)
PHONE_LINES = 40
FILTER_REFUSED = {
    "department": gettext_lazy("“%(value)s” is not a department number: every department is shown."),
    "branch": gettext_lazy("“%(value)s” is not a branch number: every branch is shown."),
}


def _check(user, branch_id: int) -> None:
    if not has_role(user, Role.PICKER, branch_id):
        raise PermissionDenied


def _branch(request, branch_id: int) -> Branch:
    branch = get_object_or_404(Branch, pk=branch_id)
    _check(request.user, branch.pk)
    return branch


def _run(request, run_id: int) -> PickRun:
    run = get_object_or_404(PickRun.objects.select_related("branch"), pk=run_id)
    _check(request.user, run.branch_id)
    return run


def _department_param(value) -> int | None:
    """``?department=`` : an id, ``0`` for lines with no department, None for all
    (absent or unreadable: see _filter_param)."""
    value = (value or "").strip()
    return 0 if value == "0" else parse_id(value)


def _filter_param(request, name: str) -> int | None:
    """A number filtering a page (``?department=``, ``?branch=``). Anything else, say
    "²" (a digit for str.isdigit(), not for int()) or 30 digits, filters nothing, and
    the page says so rather than answering with an error."""
    raw = request.GET.get(name, "").strip()
    value = _department_param(raw)
    if raw and value is None:
        messages.warning(request, FILTER_REFUSED[name] % {"value": raw[:20]})
    return value


@picker_required
def index(request):
    today = timezone.localdate()
    branches = []
    for branch in branches_for(request.user, Role.PICKER):
        todays, older = selectors.runs_of(branch, today=today)
        has_morning = any(run.kind == PickRun.Kind.MORNING for run in todays)
        # What came after today's last list, so the picker knows a late list is worth it.
        last = max(todays, key=lambda run: run.cutoff, default=None)
        late = selectors.off_the_lists(branch) if last else 0
        branches.append(
            {
                "branch": branch,
                "today": todays,
                "older": older,
                "has_morning": has_morning,
                "last": last,
                "late": late,
                # Closed today (its own closing, a holiday, a day it never opens): the
                # scheduler builds no morning list, and the page must not promise one.
                "built_today": builds_on(branch, today),
            }
        )
    return render(request, "picking/index.html", {"branches": branches, "today": today})


@post_only
@picker_required
def build(request, branch_id: int):
    branch = _branch(request, branch_id)
    kind = request.POST.get("kind", PickRun.Kind.MORNING)
    if kind not in PickRun.Kind.values:
        messages.error(request, _("Unknown kind of run."))
        return redirect("picking:index")
    run = services.build_run(branch=branch, kind=kind, actor=request.user)
    if kind == PickRun.Kind.LATE and services.drop_if_empty(run):
        messages.info(request, _("Nothing new to pull since the last list."))
        return redirect("picking:index")
    if not run.lines.exists():
        messages.info(request, _("Nothing to pull for this run."))
    return redirect("picking:run", run.pk)


@picker_required
def run_list(request, run_id: int):
    run = _run(request, run_id)
    lines = selectors.run_lines(run)
    # Built late in the day, the morning list stops at the pick time: say what came
    # after and offer the late-additions list, rather than an unexplained empty list.
    today = run.run_date == timezone.localdate()
    context = {
        "run": run,
        "late": selectors.off_the_lists(run.branch) if today else 0,
        "sections": selectors.sections(lines),
        "left": sum(line.status == LineStatus.PENDING for line in lines),
        "total": len(lines),
        "departments": selectors.departments_left(run),
    }
    return render(request, "picking/run.html", context)


@picker_required
def run_pdf(request, run_id: int):
    from . import pdf  # (fpdf takes half a second to import: not at a web process's first page)

    run = _run(request, run_id)
    sections = selectors.sections(selectors.run_lines(run))
    response = HttpResponse(pdf.pick_list(run=run, sections=sections), content_type="application/pdf")
    filename = f"pick-{run.branch.code}-{run.run_date:%Y-%m-%d}-{run.pk}.pdf"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


class NotFoundForm(forms.Form):
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=NotFoundCause, widget=forms.RadioSelect)
    note = forms.CharField(label=gettext_lazy("Details"), max_length=150, required=False)

    def clean(self):
        data = super().clean()
        if data.get("reason") == NotFoundCause.OTHER and not data.get("note", "").strip():
            self.add_error("note", _("Say what happened when the reason is “Other”."))
        return data


def _pick_url(run: PickRun, department_id: int | None) -> str:
    url = reverse("picking:pick", args=[run.pk])
    return f"{url}?{urlencode({'department': department_id})}" if department_id is not None else url


def _pick_page(request, run: PickRun, department_id: int | None, *, bad_form=None, bad_line=None, status=200):
    # A phone shows the next lines of the walk, not a whole library's morning (1,500
    # lines would be 2.5 MB of HTML, and read at every tap); a scan finds any line.
    page = selectors.pick_page(run, department_id=department_id, limit=PHONE_LINES)
    context = {
        "run": run,
        "department_id": department_id,
        "departments": selectors.departments_left(run),
        "pending": page.pending,
        "more": max(0, page.left - PHONE_LINES),
        "done": page.done,
        "done_count": page.total - page.left,
        "left": page.left,
        "total": page.total,
        "reasons": NotFoundCause.choices,
        "bad_form": bad_form,
        "bad_line": bad_line,
    }
    return render(request, "picking/pick.html", context, status=status)


@picker_required
def pick(request, run_id: int):
    run = _run(request, run_id)
    return _pick_page(request, run, _filter_param(request, "department"))


def _found_text(line: PickLine, result) -> tuple[int, str]:
    """(message level, text) telling the picker where the copy goes now. Titles are
    quoted: one ending in "?" or "!" would otherwise run into the sentence's full stop."""
    title = line.copy.record.title
    if result is None:
        text = _("“%(title)s”: the request was cancelled, put the copy back on the shelf.")
        return messages.WARNING, text % {"title": title}
    if (listed := getattr(line, "in_place_of", None)) is not None:
        return messages.SUCCESS, _in_place_of_text(line, result, listed)
    if result.status == Status.READY:
        text = _("Found: “%(title)s”. Put it in bag %(bag)s.")
        return messages.SUCCESS, text % {"title": title, "bag": result.bag.label}
    text = _("Found: “%(title)s”. It leaves for %(branch)s.")
    return messages.SUCCESS, text % {"title": title, "branch": result.pickup_branch.name}


def _in_place_of_text(line: PickLine, result, listed) -> str:
    """Another copy of the title was scanned and taken (services._take_instead): said so,
    or the picker would go on looking for the one listed."""
    said = {"title": line.copy.record.title, "listed": listed.barcode}
    if result.status == Status.READY:
        text = _("Another copy of “%(title)s” taken in place of %(listed)s: put it in bag %(bag)s.")
        text %= said | {"bag": result.bag.label}
    else:
        text = _("Another copy of “%(title)s” taken in place of %(listed)s: it leaves for %(branch)s.")
        text %= said | {"branch": result.pickup_branch.name}
    if getattr(line, "listed_pulled", False):
        # The listed copy went to the next patron waiting for the title: on this list now.
        text += " " + _("%(listed)s is for another patron now: it is on your list.") % said
    return text


def _found_message(request, line: PickLine, result) -> None:
    messages.add_message(request, *_found_text(line, result))


def _scan_json(
    run: PickRun, department_id: int | None, *, ok: bool, text: str, level: int, line_id=None, status=200
):
    """What picking.js gets back: it updates the page in place, so a scanner can read
    the next barcode while this one is being saved. ``ok``: the scan was taken (the
    line is marked); ``level``: "success" (into a bag or onto the van), "warning"
    (taken, but the copy goes back on the shelf) or "error" (refused)."""
    lines = (
        run.lines.all() if department_id is None else run.lines.filter(department_id=department_id or None)
    )
    left, total = lines.filter(status=LineStatus.PENDING).count(), lines.count()
    body = {
        "ok": ok,
        "level": messages.DEFAULT_TAGS[level],  # picking.js draws the scan result with it
        "message": text,
        "line": line_id,
        "left": left,
        "total": total,
        "progress": ngettext("%(left)s / %(total)s left", "%(left)s / %(total)s left", left)
        % {"left": left, "total": total},
    }
    return JsonResponse(body, status=status)


def _refuse_scan(request, run: PickRun, department_id: int | None, text: str, status: int):
    if "application/json" in request.headers.get("Accept", ""):
        return _scan_json(run, department_id, ok=False, text=text, level=messages.ERROR, status=status)
    messages.error(request, text)
    return redirect(_pick_url(run, department_id))


@post_only
@picker_required
def scan(request, run_id: int):
    run = _run(request, run_id)
    department_id = _department_param(request.POST.get("department"))
    # As the desk and reception read it: typed by eye from a worn label, in other
    # capitals or in its printed groups ("b000 0100").
    barcode = Copy.objects.barcode_as_typed(typed(request.POST.get("barcode")))
    if not barcode:
        return _refuse_scan(request, run, department_id, _("Scan or type a barcode."), 422)
    try:
        line = services.line_for_barcode(run=run, barcode=barcode)
        level, text = _found_text(line, services.mark_found(line=line, actor=request.user))
    except ServiceError as error:
        return _refuse_scan(request, run, department_id, error.message, error.http_status)
    if "application/json" in request.headers.get("Accept", ""):
        return _scan_json(run, department_id, ok=True, text=text, level=level, line_id=line.pk)
    messages.add_message(request, level, text)
    return redirect(_pick_url(run, department_id))


@post_only
@picker_required
def mark(request, line_id: int):
    line = get_object_or_404(PickLine.objects.select_related("run__branch", "copy__record"), pk=line_id)
    _check(request.user, line.run.branch_id)
    department_id = _department_param(request.POST.get("department"))
    page_run = line.run
    line = services.carried_on(line)
    try:
        if request.POST.get("action") == "found":
            _found_message(request, line, services.mark_found(line=line, actor=request.user))
        else:
            form = NotFoundForm(request.POST)
            if not form.is_valid():
                return _pick_page(
                    request, page_run, department_id, bad_form=form, bad_line=line.pk, status=422
                )
            moved = services.mark_not_found(
                line=line,
                actor=request.user,
                cause=form.cleaned_data["reason"],
                reason=form.cleaned_data["note"].strip(),
            )
            again = getattr(line, "already_marked", False)
            messages.add_message(
                request, messages.INFO if again else messages.SUCCESS, _not_found_message(line, moved)
            )
    except ServiceError as error:
        messages.add_message(request, ALREADY_DONE.get(error.code, messages.ERROR), error.message)
    return redirect(_pick_url(page_run, department_id))


# A tap sent twice (weak wifi, a resent form) is answered with what the first did: the
# copy is in a bag or the van. Nothing went wrong, so it is not said as an error.
ALREADY_DONE = {
    "already_found": messages.INFO,
    "already_found_transit": messages.INFO,
    "already_found_put_back": messages.WARNING,
}


def _not_found_message(line: PickLine, moved) -> str:
    title = line.copy.record.title
    again = getattr(line, "already_marked", False)  # this picker's second tap
    on_this_list = (
        moved is not None
        and PickLine.objects.filter(run=line.run, request=moved, status=LineStatus.PENDING).exists()
    )
    if not on_this_list:
        text = _("“%(title)s” was already marked not found.") if again else _("Not found: “%(title)s”.")
        return text % {"title": title}
    # Another copy here went on this list (services._pull_now_if_here): say where.
    # The barcode too: two copies' call numbers may differ by a suffix only.
    if again:
        text = _(
            "“%(title)s” was already marked not found. Another copy is on your list now: "
            "%(call_number)s (%(barcode)s)."
        )
    else:
        text = _("Not found: “%(title)s”. Another copy is on your list now: %(call_number)s (%(barcode)s).")
    return text % {
        "title": title,
        "call_number": moved.copy.call_number or "—",
        "barcode": moved.copy.barcode,
    }


@picker_required
def receive(request, branch_id: int):
    branch = _branch(request, branch_id)
    result = error = None
    barcode = ""
    if request.method == "POST":
        barcode = Copy.objects.barcode_as_typed(typed(request.POST.get("barcode")))
        try:
            result = services.receive(branch=branch, barcode=barcode, actor=request.user) if barcode else None
        except ServiceError as e:
            error = e.message
        if not barcode:
            error = _("Scan or type a barcode.")
    context = {
        "branch": branch,
        "result": result,
        "error": error,
        "barcode": barcode if error else "",
        "expected": selectors.expected_transfers(branch),
    }
    return render(request, "picking/receive.html", context, status=422 if error else 200)


@picker_required
def missing(request):
    branches = branches_for(request.user, Role.PICKER)
    branch_id, department_id = _filter_param(request, "branch"), _filter_param(request, "department")
    doc_type = request.GET.get("doc_type") if request.GET.get("doc_type") in DocType.values else None
    copies, counts, total = selectors.missing_copies(
        branches=branches, branch_id=branch_id, department_id=department_id, doc_type=doc_type
    )
    doc_types = dict(DocType.choices)
    for row in counts:
        row["doc_type_label"] = doc_types.get(row["doc_type"], row["doc_type"])
    context = {
        "copies": copies,
        "counts": counts,
        "total": total,
        "limit": selectors.MISSING_LIST_LIMIT,
        "branches": branches,
        "departments": Department.objects.filter(branch__in=branches).select_related("branch"),
        "doc_types": DocType.choices,
        "chosen": {"branch": branch_id, "department": department_id, "doc_type": doc_type},
    }
    return render(request, "picking/missing.html", context)


@post_only
@picker_required
def put_back(request, copy_id: int):
    copy = get_object_or_404(Copy.objects.select_related("record"), pk=copy_id)
    _check(request.user, copy.branch_id)
    if copy.status != CopyStatus.MISSING:
        messages.info(request, _("“%(title)s” is no longer missing.") % {"title": copy.record.title})
    else:
        served = services.put_back(copy=copy, actor=request.user)
        title = copy.record.title
        if served is None:
            text = _("“%(title)s” is back on the shelf.") % {"title": title}
        elif served.status == Status.READY:
            text = _(
                "“%(title)s” is back, and someone was waiting for it: put it in bag %(label)s (%(name)s)."
            ) % {
                "title": title,
                "label": served.bag.label,
                "name": served.patron.first_name,
            }
        else:
            text = _("“%(title)s” is back, and someone is waiting for it at %(branch)s: send it there.") % {
                "title": title,
                "branch": served.pickup_branch.name,
            }
        messages.success(request, text)
    return HttpResponseRedirect(safe_next(request, request.POST.get("next")) or reverse("picking:missing"))


@picker_required
def labels_pdf(request, branch_id: int):
    from . import pdf  # (fpdf takes half a second to import: not at a web process's first page)

    branch = _branch(request, branch_id)
    style = request.GET.get("name") or branch.label_name_style
    if style not in pdf.NAME_STYLES:
        style = branch.label_name_style
    since = None
    if request.GET.get("all") != "1":
        # By default, the bags that received a document today: yesterday's are labelled.
        start = datetime.datetime.combine(timezone.localdate(), datetime.time.min)
        since = timezone.make_aware(start)
    bags = selectors.bags_to_label(branch, since=since)
    body = pdf.bag_labels(branch=branch, bags=bags, name_style=style)
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="labels-{branch.code}.pdf"'
    return response
