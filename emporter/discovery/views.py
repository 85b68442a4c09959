"""Discovery pages: thin doors onto selectors.py and services.py."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from emporter.catalogue.models import Audience, Record
from emporter.catalogue.search import Filters, search_records
from emporter.network.models import Branch
from emporter.patrons.models import Role
from emporter.patrons.permissions import branches_for, has_role
from emporter.patrons.views import current_patron

from . import selectors, services
from .forms import SurpriseForm
from .kinds import AgeBand, Kind
from .models import Selection, SurpriseRequest, SurpriseStatus

# Librarians who compose surprise bags: the phone desk and branch managers.
LIBRARIAN_ROLES = (Role.PHONE_DESK, Role.BRANCH_MANAGER)
ALL_AGES = "all"


def _branch(request) -> Branch | None:
    patron = current_patron(request)
    return patron.home_branch if patron else None


def _page(request) -> int:
    page = request.GET.get("page", "1")
    return int(page) if page.isdigit() and int(page) > 0 else 1


def index(request):
    branch = _branch(request)
    context = {
        "bands": AgeBand.choices,
        "kinds": Kind.choices,
        "selections": selectors.selections_for(branch=branch),
        "arrivals": selectors.new_arrivals(branch=branch, limit=8),
        "branch": branch,
    }
    return render(request, "discovery/index.html", context)


def browse(request, band: str = ALL_AGES, kind: str = ""):
    if band not in AgeBand.values + [ALL_AGES] or (kind and kind not in Kind.values):
        raise Http404
    age_band = "" if band == ALL_AGES else band
    branch = _branch(request)
    page = _page(request)
    found, total = selectors.browse(age_band=age_band, kind=kind, branch=branch, page=page)
    context = {
        "band": band,
        "band_label": AgeBand(age_band).label if age_band else _("All ages"),
        "kind": kind,
        "kind_label": Kind(kind).label if kind else "",
        "kinds": Kind.choices,
        "bands": AgeBand.choices,
        "tiles": found,
        "total": total,
        "page": page,
        "has_next": page * selectors.PER_PAGE < total,
        "branch": branch,
    }
    return render(request, "discovery/browse.html", context)


def selection(request, pk: int):
    chosen = get_object_or_404(Selection, pk=pk, published=True)
    branch = _branch(request)
    context = {
        "selection": chosen,
        "tiles": selectors.selection_tiles(chosen, branch=branch),
        "branch": branch,
    }
    return render(request, "discovery/selection.html", context)


def branch_page(request, pk: int):
    branch = get_object_or_404(Branch, pk=pk)
    audience = request.GET.get("audience", "")
    if audience not in Audience.values:
        audience = ""
    context = {
        "branch": branch,
        "selections": selectors.selections_for(branch=branch),
        "arrivals": selectors.new_arrivals(branch=branch, audience=audience),
        "audience": audience,
        "audiences": Audience.choices,
    }
    return render(request, "discovery/branch.html", context)


# -- Surprise bags: patrons -------------------------------------------------------------


@login_required
def surprise(request):
    patron = current_patron(request)
    if patron is None:
        raise Http404
    form = SurpriseForm(request.POST or None, patron=patron)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.create_surprise_request(
                asked_by=patron,
                patron=form.reader(),
                pickup_branch=data["pickup_branch"],
                how_many=data["how_many"],
                age=data["age"],
                kinds=data["kinds"],
                tastes=data["tastes"],
                avoid=data["avoid"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Your surprise bag is asked for: a librarian will choose for you."))
            return redirect("discovery:surprise")
    mine = SurpriseRequest.objects.filter(asked_by=patron).select_related("patron", "pickup_branch")
    context = {
        "form": form,
        "mine": mine.order_by("-created_at")[:10],
        "left": selectors.remaining_allowance(patron=patron, branch=patron.home_branch),
    }
    return render(request, "discovery/surprise.html", context)


@login_required
@require_POST
def surprise_cancel(request, pk: int):
    patron = current_patron(request)
    mine = get_object_or_404(SurpriseRequest, pk=pk, asked_by=patron)
    if services.cancel_surprise_request(surprise=mine):
        messages.success(request, _("Your surprise bag is cancelled."))
    else:
        messages.error(request, _("This surprise bag is no longer open."))
    return redirect("discovery:surprise")


# -- Surprise bags: librarians ------------------------------------------------------------


def _librarian_branches(user):
    branches = branches_for(user, LIBRARIAN_ROLES[0]) | branches_for(user, LIBRARIAN_ROLES[1])
    return branches.distinct()


def librarian_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "staff_login")
        if not _librarian_branches(request.user).exists():
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


@librarian_required
def queue(request):
    branches = _librarian_branches(request.user)
    return render(request, "discovery/queue.html", {"surprises": selectors.surprise_queue(branches)})


@librarian_required
def compose(request, pk: int):
    surprise = get_object_or_404(
        SurpriseRequest.objects.select_related("patron", "asked_by", "pickup_branch"), pk=pk
    )
    if not any(has_role(request.user, role, surprise.pickup_branch) for role in LIBRARIAN_ROLES):
        raise PermissionDenied
    if request.method == "POST":
        chosen = [int(i) for i in request.POST.getlist("record") if i.isdigit()]
        try:
            outcomes = services.compose_surprise_request(
                surprise=surprise, record_ids=chosen, actor=request.user
            )
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
            return redirect("discovery:compose", surprise.pk)
        titles = Record.objects.in_bulk([o.record_id for o in outcomes])
        for outcome in outcomes:
            title = titles[outcome.record_id].title if outcome.record_id in titles else "?"
            if outcome.ok:
                messages.success(request, _("Requested: %(title)s") % {"title": title})
            else:
                messages.error(request, f"{title} — {outcome.error.message}")
        if any(o.ok for o in outcomes):
            return redirect("discovery:queue")
        return redirect("discovery:compose", surprise.pk)
    q = request.GET.get("q", "").strip()
    suggested = selectors.suggestions(surprise) if surprise.status == SurpriseStatus.OPEN else []
    found = []
    if q:
        result = search_records(q=q, filters=Filters(available=True), per_page=12)
        found = selectors.tiles([h.record for h in result.hits], branch=surprise.pickup_branch)
    context = {
        "surprise": surprise,
        "suggested": suggested,
        "ticked": {t.record.pk for t in suggested[: surprise.how_many]},
        "found": found,
        "q": q,
        "placed": surprise.requests.select_related("record"),
    }
    return render(request, "discovery/compose.html", context)
