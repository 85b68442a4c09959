"""The continuity switch: a network administrator moves one branch, or every branch at
once, between normal service, click and collect, and closed."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from emporter.curbside.selectors import live_appointments
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.holds.continuity import set_mode
from emporter.holds.selectors import active_pickups_at, set_aside_at, to_collect_at
from emporter.http import post_only
from emporter.patrons.permissions import network_admin_required

from .models import LENDING_MODES, Branch, ModeChange, ServiceMode
from .tasks import asked, pending_switches, switch_modes


def _mode(request) -> str | None:
    mode = request.POST.get("mode", "")
    return mode if mode in ServiceMode.values else None


@network_admin_required
def modes(request):
    pending = pending_switches()
    branches = list(Branch.objects.prefetch_related("hours"))
    # Who made each library's last switch, and when (the latest few hundred changes).
    last = {}
    for change in ModeChange.objects.select_related("changed_by")[:500]:
        last.setdefault(change.branch_id, change)
    for branch in branches:
        branch.switching_mode = pending.get(branch.pk, "")
        branch.switching_to = ServiceMode(pending[branch.pk]).label if branch.pk in pending else ""
        branch.last_change = last.get(branch.pk)
    context = {"branches": branches, "modes": ServiceMode.choices}
    return render(request, "network/modes.html", context)


@post_only
@network_admin_required
def switch_branch(request, branch_id: int):
    branch = get_object_or_404(Branch, pk=branch_id)
    mode = _mode(request)
    closing = mode == ServiceMode.CLOSED and branch.service_mode != ServiceMode.CLOSED
    if closing and request.POST.get("confirm") != "yes":
        # Closing moves or cancels requests for good: say what will happen, then ask.
        context = {"branch": branch, "mode": mode, **_closing_effects([branch])}
        return render(request, "network/confirm_close.html", context)
    leaving = mode == ServiceMode.OPEN and branch.service_mode == ServiceMode.CLICK_COLLECT
    if leaving and request.POST.get("confirm") != "yes":
        # Patrons can no longer choose it: say what goes on there, and what stops.
        context = {"branch": branch, "mode": mode, **_leaving_effects([branch])}
        return render(request, "network/confirm_leave.html", context)
    if mode is None:
        messages.error(request, _("Choose a service mode."))
        return redirect("network:modes")
    superseded = pending_switches().get(branch.pk)
    at = asked(Branch.objects.filter(pk=branch.pk))
    if _reopens(Branch.objects.filter(pk=branch.pk), mode):
        messages.success(request, _reopening_text(mode, [branch]))
        switch_modes.enqueue([branch.pk], mode, request.user.pk, at)
    else:
        # Always through set_mode: a queued switch the worker is running now holds the
        # row, and this one, waiting for it, is then the last (the last asked holds).
        changed = set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=mode, actor=request.user)
        if not changed and superseded and superseded != mode:
            # The switch waiting in the queue will not run: said, for whoever asked for it.
            text = _("%(branch)s stays %(mode)s: the switch to %(other)s that was waiting is cancelled.")
            other = ServiceMode(superseded).label
        else:
            text, other = _("%(branch)s: %(mode)s."), ""
        messages.success(
            request, text % {"branch": branch.name, "mode": ServiceMode(mode).label, "other": other}
        )
        if mode == ServiceMode.CLOSED:
            _warn_about_pickups(request, branch)
    return redirect("network:modes")


def _closing_effects(branches) -> dict:
    """What closing ``branches`` moves, tells and leaves waiting (confirm_close.html)."""
    return {
        "set_aside": sum(set_aside_at(b) for b in branches),
        "pickups": sum(active_pickups_at(b) for b in branches),
        "bookings": live_appointments().filter(bag__branch__in=branches).count(),
        "surprises": _open_surprises(branches),
    }


def _leaving_effects(branches) -> dict:
    """What goes on at ``branches`` leaving click and collect for normal service, and what
    stops (confirm_leave.html)."""
    return {
        "under_way": sum(to_collect_at(b) for b in branches),
        "surprises": _open_surprises(branches),
    }


def _open_surprises(branches) -> int:
    # No librarian makes them up once the library stops taking requests: cancelled, and
    # their patrons told (discovery.services.cancel_stranded).
    return SurpriseRequest.objects.filter(status=SurpriseStatus.OPEN, pickup_branch__in=branches).count()


def _reopens(branches, mode: str) -> bool:
    """A closed library among ``branches`` lends again: its waiting lists are served and
    its patrons told, in the background (``tasks.switch_modes``)."""
    return mode in LENDING_MODES and branches.filter(service_mode=ServiceMode.CLOSED).exists()


def _reopening_text(mode: str, branches, whole: bool = False) -> str:
    if whole:
        return _(
            "Whole network: %(mode)s in a moment. The requests waiting for the shelves of the "
            "libraries that reopen are served first and their patrons told; with many requests "
            "this takes a few minutes."
        ) % {"mode": ServiceMode(mode).label}
    names = ", ".join(b.name for b in branches if b.service_mode == ServiceMode.CLOSED)
    return _(
        "%(branches)s: %(mode)s in a moment. The requests waiting for their shelves are served first and "
        "their patrons told; with many requests this takes a few minutes."
    ) % {"branches": names, "mode": ServiceMode(mode).label}


def _warn_about_pickups(request, branch: Branch) -> None:
    """Copies set aside at a closed branch move on their own (picking's sweep); patrons
    who chose it to collect are told by email within minutes and choose another library
    themselves (holds.services.tell_closed_pickups, change_pickup)."""
    count = active_pickups_at(branch)
    if count:
        messages.info(
            request,
            ngettext(
                "%(count)s request is to be collected at %(branch)s, now closed: its patron is "
                "told by email and may choose another library. Ready bags wait there, without "
                "expiring, until it reopens.",
                "%(count)s requests are to be collected at %(branch)s, now closed: their patrons "
                "are told by email and may choose another library. Ready bags wait there, "
                "without expiring, until it reopens.",
                count,
            )
            % {"count": count, "branch": branch.name},
        )


@post_only
@network_admin_required
def switch_network(request):
    """Two steps: the first POST shows what will change, the confirmed one does it."""
    mode = _mode(request)
    if mode is None:
        messages.error(request, _("Choose a service mode."))
        return redirect("network:modes")
    branches = Branch.objects.all()
    if request.POST.get("confirm") != "yes":
        changing = list(branches.exclude(service_mode=mode))
        context = {
            "mode": mode,
            "mode_label": ServiceMode(mode).label,
            "changing": changing,
            "unchanged": branches.filter(service_mode=mode).count(),
        }
        if mode == ServiceMode.CLOSED and changing:
            # The biggest step there is: counted as for one library, over all of them.
            context |= {"closing": True, **_closing_effects(changing)}
        leaving = [b for b in changing if b.service_mode == ServiceMode.CLICK_COLLECT]
        if mode == ServiceMode.OPEN and leaving:
            context |= {"leaving": True, **_leaving_effects(leaving)}
        return render(request, "network/confirm.html", context)
    at = asked(branches)
    if _reopens(branches, mode):
        messages.success(
            request, _reopening_text(mode, list(branches), whole=True)
        )  # said before they change
        ids = list(branches.values_list("pk", flat=True))
        switch_modes.enqueue(ids, mode, request.user.pk, at)
        return redirect("network:modes")
    changed = set_mode(branches=branches, mode=mode, actor=request.user)
    messages.success(
        request,
        ngettext(
            "Whole network: %(mode)s (%(count)s library switched).",
            "Whole network: %(mode)s (%(count)s libraries switched).",
            changed,
        )
        % {"mode": ServiceMode(mode).label, "count": changed},
    )
    return redirect("network:modes")
