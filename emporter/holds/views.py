import re
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from emporter.catalogue.models import Record
from emporter.errors import ServiceError
from emporter.http import post_only, safe_next
from emporter.inputs import parse_id, parse_ids
from emporter.network.models import Branch
from emporter.notices.selectors import can_be_told, refused_address
from emporter.patrons.models import of_household
from emporter.patrons.permissions import is_patron_account
from emporter.patrons.selectors import current_patron, self_or_child, signed_in_patron

from . import basket, policy, services
from .models import Channel, Request, Status
from .selectors import active_count, basket_view, card_refusal, room_left

# The basket form's key: a uuid4 in hex (show_basket).
CONFIRM_KEY = re.compile(r"[0-9a-f]{32}")


def _pickup_branches():
    return Branch.objects.accepting_requests()


@post_only
def add_to_basket(request, record_id: int):
    record = get_object_or_404(Record, pk=record_id)
    back = safe_next(request, request.POST.get("next"))
    if request.user.is_authenticated and not is_patron_account(request.user):
        # A stale page or a made-up form: the buttons are not shown to staff.
        messages.error(request, ServiceError("staff_no_basket").message)
        return HttpResponseRedirect(back or reverse("home"))
    if basket.add(request.session, record.pk):
        messages.success(request, _("“%(title)s” is in your basket.") % {"title": record.title})
    elif record.pk in basket.ids(request.session):
        # A second tap (or a stale page): say where it is rather than nothing at all.
        messages.info(request, _("“%(title)s” is already in your basket.") % {"title": record.title})
    else:
        messages.error(request, ServiceError("basket_full").message)
    return HttpResponseRedirect(back or reverse("holds:basket"))


@post_only
def remove_from_basket(request, record_id: int):
    basket.remove(request.session, [record_id])
    # Back to the basket for the library it was shown for (its Remove buttons say which):
    # the one chosen in its list stays chosen.
    url = reverse("holds:basket")
    pickup = parse_id(request.POST.get("pickup"))
    return HttpResponseRedirect(f"{url}?pickup={pickup}" if pickup else url)


def show_basket(request):
    patron = current_patron(request)
    branches = _pickup_branches()
    default_branch = patron.home_branch_id if patron else None
    home_not_taking = None
    if default_branch not in {b.pk for b in branches}:
        # Said, not silently swapped: an older patron confirming without reading would
        # collect across town.
        home_not_taking = patron.home_branch if patron and patron.home_branch_id else None
        default_branch = branches[0].pk if branches else None
    refused = card_refusal(patron)
    children = list(patron.children_by_name()) if patron else []
    if refused:  # then only the children whose own cards allow it
        children = [child for child in children if not card_refusal(child)]
    # A parent's basket may be for a child: nothing is taken out as already the parent's,
    # and limits are each person's (said when confirming), not the parent's room.
    # At the library preselected for collecting: one lending only its own copies says
    # here, not after confirming, which documents it has none of.
    preselected = patron is not None and home_not_taking is None
    pickup = next((b for b in branches if b.pk == default_branch), None) if preselected else None
    # Another library chosen in the list (basket.js asks the page again for it): its
    # warnings, as the preselected one's are.
    asked = parse_id(request.GET.get("pickup"))
    chosen = next((b for b in branches if b.pk == asked), None)
    if patron is not None and chosen is not None:
        pickup, default_branch = chosen, chosen.pk
    seen = basket_view(
        patron=None if children else patron,
        records=basket.records(request.session),
        pickup_branch=pickup,
        category=patron.category if patron else "",
    )
    if request.GET.get("part") == "list":
        # basket.js, for another library chosen in the list: the documents, their
        # warnings and their Remove buttons' forms alone. Nothing taken out of the
        # basket nor said here: the patron would not see it (the next full page does both).
        return render(request, "holds/_basket_part.html", {"records": seen.records, "pickup": pickup})
    if seen.already_requested:
        # Requesting them again could never work: out of the basket, said once.
        basket.clear(request.session, [r.pk for r in seen.already_requested])
        for record in seen.already_requested:
            text = _("You have already requested “%(title)s”: it was taken out of your basket.")
            messages.info(request, text % {"title": record.title})
    if seen.at_home:
        basket.clear(request.session, [r.pk for r in seen.at_home])
        for record in seen.at_home:
            text = _("You already have “%(title)s” at home: it was taken out of your basket.")
            messages.info(request, text % {"title": record.title})
    active = active_count(patron) if children else seen.active
    context = {
        "records": seen.records,
        "patron": patron,
        # An expired or blocked card is told here, before the patron confirms, not once
        # per document after.
        "refused": refused,
        # No address to tell them their bag is ready (the phone desk's warning): said
        # before they confirm, not learnt when the bag has gone back to the shelves.
        "can_be_told": patron is None or can_be_told(patron),
        "refused_address": refused_address(patron) if patron is not None else "",
        # A parent requests for the children in their care too (a child's card is checked
        # when confirming for them, not the parent's).
        "children": children,
        "home_not_taking": home_not_taking,
        "branches": branches,
        "default_branch": default_branch,
        # The library selected in the list: none while the patron's own must be replaced.
        "selected_branch": default_branch if home_not_taking is None or pickup is not None else None,
        "active": active,
        # The places an open surprise bag holds count against the limit too: said with them.
        "promised": policy.promised_places(patron) if patron else 0,
        "pickup": pickup,
        # With children, the parent's own room, said as theirs: a child's is checked on confirming.
        "own_room": room_left(patron, active) if children else None,
        "room": seen.room,
        "over_limit": seen.over_limit,
        "to_confirm": seen.to_confirm,
        # One key per rendering of the form: a double click submits it twice, the
        # second submission replays the first instead of placing anything again.
        "confirm_key": uuid.uuid4().hex,
    }
    return render(request, "holds/basket.html", context)


@login_required
@post_only
def confirm_basket(request):
    # Not the phone desk's checks (phonedesk.views.confirm), on purpose: here the patron
    # chooses for whom, any library taking requests is theirs to choose, a form without
    # its key is placed without replay protection, and more than a basket holds is cut
    # to a basket; there a librarian places only within their scope, and an old form or
    # too many documents are refused, said to them before anything is placed.
    guardian = signed_in_patron(request)
    patron = self_or_child(guardian, parse_id(request.POST.get("for_whom")))
    if patron is None:
        messages.error(request, ServiceError("choose_for_whom").message)
        return redirect("holds:basket")
    if refused := card_refusal(patron, theirs=patron != guardian):
        if patron != guardian:  # the parent's own card is said on the basket page
            messages.error(request, refused)
        return redirect("holds:basket")  # which says why, above the documents kept
    if not request.POST.get("pickup_branch"):  # the choice left empty (its library closed)
        messages.error(request, ServiceError("choose_pickup").message)
        return redirect("holds:basket")
    branch = _pickup_branches().filter(pk=parse_id(request.POST.get("pickup_branch"))).first()
    if branch is None:
        # Switched to closed since the basket page was shown (or a made-up choice): the
        # basket stays, and the patron chooses again.
        messages.error(request, ServiceError("pickup_not_accepting").message)
        return redirect("holds:basket")
    # No more than a basket holds: each id is tried in a locked transaction of its own.
    posted = parse_ids(request.POST.getlist("record"))[: basket.MAX_ITEMS]
    titles = Record.objects.in_bulk(posted)
    # The form's own key (a uuid4): anything else did not come from the form.
    key = request.POST.get("confirm_key", "")
    outcomes = services.place_requests(
        patron=patron,
        record_ids=[i for i in posted if i in titles],
        pickup_branch=branch,
        channel=Channel.ONLINE,
        actor=request.user,
        idempotency_key=key if CONFIRM_KEY.fullmatch(key) else None,
        theirs=patron != guardian,
    )
    # Deleted from the catalogue since it went into the basket: say so, and let it go.
    gone = [i for i in posted if i not in titles]
    if gone:
        basket.clear(request.session, gone)
        messages.error(request, ServiceError("basket_records_gone").message)
    # Placed, or already requested (placing it again can never work): out of the basket.
    done = [o.record_id for o in outcomes if o.out_of_basket]
    basket.clear(request.session, done)
    for outcome in outcomes:
        title = titles[outcome.record_id].title
        if outcome.ok and patron != guardian:
            waiting = outcome.request.status == Status.WAITING
            text = (
                _("On the waiting list for %(name)s: %(title)s")
                if waiting
                else _("Requested for %(name)s: %(title)s")
            )
            messages.success(request, text % {"name": patron.first_name, "title": title})
        elif outcome.ok and outcome.request.status == Status.WAITING:
            # No copy set aside: "requested" would promise a bag that is not coming yet.
            messages.success(request, _("On the waiting list: %(title)s") % {"title": title})
        elif outcome.ok:
            messages.success(request, _("Requested: %(title)s") % {"title": title})
        else:
            messages.error(request, f"{title} — {outcome.error.message}")
    return redirect("patrons:account")


@login_required
@post_only
def cancel(request, request_id: int):
    hold = _own_request(request, request_id)
    try:
        services.cancel_request(request=hold, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Your request for “%(title)s” is cancelled.") % {"title": hold.record.title}
        )
    return redirect("patrons:account")


def _own_request(request, request_id: int) -> Request:
    patron = signed_in_patron(request)
    return get_object_or_404(Request, of_household(patron), pk=request_id)


@post_only
@login_required
def change_pickup(request, request_id: int):
    hold = _own_request(request, request_id)
    branch = _pickup_branches().filter(pk=parse_id(request.POST.get("branch"))).first()
    if branch is None:
        messages.error(request, ServiceError("choose_pickup").message)
        return redirect("patrons:account")
    if branch.pk == hold.pickup_branch_id:
        messages.info(
            request,
            _("“%(title)s” is already to be collected at %(branch)s.")
            % {"title": hold.record.title, "branch": branch.name},
        )
        return redirect("patrons:account")
    try:
        services.change_pickup(request=hold, branch=branch, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("“%(title)s” will be collected at %(branch)s.")
            % {"title": hold.record.title, "branch": branch.name},
        )
    return redirect("patrons:account")
