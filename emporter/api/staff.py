"""The phone desk: find the caller, see and place their requests, cancel with a reason.

The same rules as the phone-desk pages, through the same selectors: finding a patron
works network-wide (a card is valid at every branch and people call whichever library
they know); acting is scoped: a librarian places, lists and cancels only requests picked
up at branches in their scope (their phone-desk branches and those they manage).
"""

import datetime
import logging
from typing import Literal

from ninja import Header, Router

from emporter.errors import ServiceError
from emporter.holds.models import Channel, Request, Status
from emporter.holds.services import cancel_request, change_pickup
from emporter.patrons.models import Patron, Role
from emporter.patrons.search import find_patrons
from emporter.phonedesk.selectors import may_handle, scope

from .auth import StaffAuth
from .errors import ApiError
from .requests import (
    BASKET_RESPONSES,
    changed_since,
    filter_status,
    get_branch,
    me_out,
    page_of,
    place_basket,
)
from .schemas import (
    BasketBase,
    BodyId,
    ErrorOut,
    InputSchema,
    MeOut,
    PageNumber,
    PatronOut,
    StaffCancelIn,
    StaffRequestOut,
    StaffRequestPage,
    Text,
)

router = Router(tags=["Phone desk"], auth=StaffAuth(role=Role.PHONE_DESK))
# Who opened whom, as the phone-desk pages say it (docs/deploy.md: LOG_LEVEL).
audit = logging.getLogger("emporter.audit")


class StaffBasketIn(BasketBase):
    # No for_patron_id: staff place on the patron of the URL (a child's own page).
    channel: Literal["phone", "desk"] = "phone"


def in_scope(user, branch_id: int) -> bool:
    return scope(user).filter(pk=branch_id).exists()


def get_patron(patron_id: int) -> Patron:
    patron = Patron.objects.select_related("home_branch").filter(pk=patron_id).first()
    if patron is None:
        raise ApiError("patron_not_found")
    return patron


def opened_patron(request, patron_id: int) -> Patron:
    """The patron, their opening written to the audit log."""
    patron = get_patron(patron_id)
    audit.info("api phone desk: %s opened patron %s", request.user.pk, patron.pk)
    return patron


@router.get("/patrons", response={200: list[PatronOut], 403: ErrorOut}, summary="Find a patron")
def patrons(request, q: Text):
    """By card number, phone number (any format: +33, 0033, spaces…) or the words of a
    name, accents and case ignored; 20 at most. Every search is written to the audit log."""
    found = find_patrons(q)
    audit.info("api phone desk: %s searched patrons %r: %d found", request.user.pk, q, len(found))
    return found


@router.get("/patrons/{patron_id}", response={200: MeOut, 404: ErrorOut}, summary="A patron")
def patron(request, patron_id: int):
    return me_out(opened_patron(request, patron_id))


@router.get(
    "/patrons/{patron_id}/requests",
    response={200: StaffRequestPage, 404: ErrorOut},
    summary="A patron's requests",
)
def patron_requests(
    request,
    patron_id: int,
    status: Text | None = "active",
    since: datetime.datetime | None = None,
    page: PageNumber = 1,
):
    """Those picked up at my branches, newest first; `status` and `since` as for patrons
    (default active)."""
    qs = Request.objects.filter(
        patron=opened_patron(request, patron_id), pickup_branch__in=scope(request.user)
    )
    return page_of(changed_since(filter_status(qs, status), since).select_related("copy__branch"), page)


@router.post(
    "/patrons/{patron_id}/requests", response=BASKET_RESPONSES, summary="Place requests for a patron"
)
def place_for_patron(
    request,
    patron_id: int,
    payload: StaffBasketIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
):
    """Same rules as a patron's basket, recorded with channel `phone` (or `desk`). The
    pickup branch defaults to the patron's home branch if it is one of mine. In the
    audit log as an opening: the answer tells what the patron has (a title refused as
    already on loan to them, their limits)."""
    patron = opened_patron(request, patron_id)
    if payload.pickup_branch_id is not None:
        branch = get_branch(payload.pickup_branch_id)
    elif in_scope(request.user, patron.home_branch_id):
        branch = patron.home_branch
    else:
        raise ApiError("pickup_branch_required")
    if not in_scope(request.user, branch.pk):
        raise ServiceError("forbidden")
    return place_basket(
        patron=patron,
        payload=payload,
        pickup_branch=branch,
        channel=Channel(payload.channel),
        actor=request.user,
        idempotency_key=idempotency_key,
    )


@router.post(
    "/requests/{request_id}/cancel",
    response={200: StaffRequestOut, frozenset({403, 404, 409}): ErrorOut},
    summary="Cancel a request, with a reason",
)
def cancel(request, request_id: int, payload: StaffCancelIn):
    """Only a request picked up at one of my branches, or at a library that has closed
    (its callers phone another desk): any other answers 404, as an id that does not
    exist does (the answer does not tell which ids exist elsewhere)."""
    found = Request.objects.select_related("pickup_branch").filter(pk=request_id).first()
    if found is None or not may_handle(request.user, found):
        raise ServiceError("not_found")
    if found.status == Status.CANCELLED:  # a retry: answered as it is
        return found
    return cancel_request(request=found, actor=request.user, reason=payload.reason, by_staff=True)


class StaffPickupIn(InputSchema):
    pickup_branch_id: BodyId


@router.post(
    "/requests/{request_id}/pickup",
    response={200: StaffRequestOut, frozenset({403, 404, 409, 422}): ErrorOut},
    summary="Collect a request at another library",
)
def change_pickup_at(request, request_id: int, payload: StaffPickupIn):
    """Both libraries must be in my scope — but a request waiting at a library that has
    closed may be moved by any desk (its callers phone another library); the same rules
    as the patron's own call (`POST /requests/{id}/pickup`): 409 `pickup_not_changeable`
    once the document has left its shelf, 409 `pickup_no_copy`, 422 `branch_not_accepting`."""
    found = Request.objects.select_related("pickup_branch").filter(pk=request_id).first()
    if found is None or not may_handle(request.user, found):
        raise ServiceError("not_found")
    branch = get_branch(payload.pickup_branch_id)  # 404 for a library that does not exist
    if not in_scope(request.user, branch.pk):
        raise ServiceError("forbidden")
    return change_pickup(request=found, branch=branch, actor=request.user)
