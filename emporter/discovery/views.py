"""Discovery pages: thin doors onto selectors.py and services.py."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from emporter.catalogue.models import Audience, Record
from emporter.errors import ServiceError
from emporter.http import post_only
from emporter.inputs import parse_id, parse_ids, typed
from emporter.network.models import Branch
from emporter.patrons.models import Role
from emporter.patrons.permissions import branches_for, has_role
from emporter.patrons.selectors import current_patron, signed_in_patron

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


# Nobody pages this far by hand; a huge number would overflow the database's OFFSET.
MAX_PAGE = 1000


def _page(request) -> int:
    return min(parse_id(request.GET.get("page", "")) or 1, MAX_PAGE)


def index(request):
    branch = _branch(request)
    context = {
        "bands": AgeBand.choices,
        "kinds": Kind.choices,
        "selections": selectors.selections_for(branch=branch),
        "arrivals": selectors.new_arrivals(branch=branch, limit=8),
        "branch": branch,
        "branches": Branch.objects.accepting_requests(),
    }
    return render(request, "discovery/index.html", context)


def browse(request, band: str = ALL_AGES, kind: str = ""):
    if band not in AgeBand.values + [ALL_AGES] or (kind and kind not in Kind.values):
        raise Http404
    age_band = "" if band == ALL_AGES else band
    branch = _branch(request)
    page = _page(request)
    found, has_next = selectors.browse(age_band=age_band, kind=kind, branch=branch, page=page)
    context = {
        "band": band,
        "band_label": AgeBand(age_band).label if age_band else _("All ages"),
        "kind": kind,
        "kind_label": Kind(kind).label if kind else "",
        "kinds": Kind.choices,
        "bands": AgeBand.choices,
        "tiles": found,
        "page": page,
        "has_next": has_next,
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
        # Its tiles say "on the shelf at <this library>", which may not be the patron's.
        "here_name": branch.name,
        "selections": selectors.selections_for(branch=branch),
        "arrivals": selectors.new_arrivals(branch=branch, audience=audience),
        "audience": audience,
        "audiences": Audience.choices,
    }
    return render(request, "discovery/branch.html", context)


# -- Surprise bags: patrons -------------------------------------------------------------


@login_required
def surprise(request):
    patron = signed_in_patron(request)
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
                key=data["ask_key"],
            )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Your surprise bag is asked for: a librarian will choose for you."))
            return redirect("discovery:surprise")
    # The household's bags, whoever asked: a child's bag is their guardian's to see and
    # cancel now, not a former guardian's (its allowance counts it).
    mine = SurpriseRequest.objects.filter(patron__in=patron.household_ids()).select_related(
        "patron", "pickup_branch"
    )
    context = {
        "form": form,
        "mine": mine.order_by("-created_at")[:10],
        # What each person may still ask for (the limits are per card).
        "allowances": [
            (person, selectors.remaining_allowance(patron=person)) for person in form.people.values()
        ],
    }
    return render(request, "discovery/surprise.html", context)


@login_required
@post_only
def surprise_cancel(request, pk: int):
    patron = signed_in_patron(request)
    mine = get_object_or_404(SurpriseRequest, pk=pk, patron__in=patron.household_ids())
    if services.cancel_surprise_request(surprise=mine):
        messages.success(request, _("Your surprise bag is cancelled."))
    else:
        messages.error(request, ServiceError("surprise_not_open").message)
    return redirect("discovery:surprise")


# -- Surprise bags: librarians ------------------------------------------------------------


def _librarian_branches(user):
    # By ids: one role's branches may be all of them (a plain queryset) and the other's a
    # distinct join, which Django refuses to OR together (a 500 for such a librarian).
    either = [Q(pk__in=branches_for(user, role).values("pk")) for role in LIBRARIAN_ROLES]
    return Branch.objects.filter(either[0] | either[1])


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
    chosen = parse_ids(request.POST.getlist("record"))
    if request.method == "POST" and "confirm" in request.POST:
        try:
            outcomes = services.compose_surprise_request(
                surprise=surprise, record_ids=chosen, actor=request.user
            )
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            _tell(request, outcomes)
            if any(o.ok for o in outcomes):
                return redirect("discovery:queue")
    elif request.method != "POST":
        chosen = None  # first visit: the best suggestions come ticked
    return _compose_page(request, surprise, chosen=chosen, q=typed(request.POST.get("q")))


def _compose_page(request, surprise: SurpriseRequest, *, chosen: list[int] | None, q: str):
    """The bag so far (ticked), then suggestions and search results to add; searching
    posts the same form, so what is ticked is kept."""
    is_open = surprise.status == SurpriseStatus.OPEN
    # How many fitting titles were left out as the reader's already (at home, borrowed
    # before when they keep their history, an earlier bag's): said as a number only.
    suggested, left_out = selectors.suggestions_and_left_out(surprise) if is_open else ([], 0)
    if chosen is None:
        chosen = selectors.first_choices(surprise, suggested)
    # The reader's rules, as the suggestions read them: a child's card may take fewer types.
    category = surprise.patron.category if surprise.patron else ""
    where = {"branch": surprise.pickup_branch, "category": category}
    found = selectors.search_available(q, **where) if q and is_open else []
    in_bag = Record.objects.in_bulk(chosen)
    context = {
        "surprise": surprise,
        "bag": selectors.tiles([in_bag[pk] for pk in chosen if pk in in_bag], **where),
        "suggested": [t for t in suggested if t.record.pk not in in_bag],
        "left_out": left_out,
        "found": [t for t in found if t.record.pk not in in_bag],
        "q": q,
        "placed": surprise.requests.select_related("record"),
    }
    return render(request, "discovery/compose.html", context)


def _tell(request, outcomes) -> None:
    titles = Record.objects.in_bulk([o.record_id for o in outcomes])
    for outcome in outcomes:
        title = titles[outcome.record_id].title if outcome.record_id in titles else "?"
        if outcome.ok:
            messages.success(request, _("Requested: %(title)s") % {"title": title})
        else:
            messages.error(request, f"{title} — {outcome.error.message}")
