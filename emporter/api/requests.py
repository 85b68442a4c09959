"""A patron's own requests: the basket, the list, cancelling.

A request that is not the caller's answers 404 exactly like one that does not exist, so
nobody can probe for other patrons' request numbers.
"""

import datetime
import re

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from ninja import Header, Router, Status

from emporter.catalogue.models import Record
from emporter.errors import ServiceError
from emporter.holds import policy
from emporter.holds.models import ACTIVE, Channel, Request, RequestEvent
from emporter.holds.models import Status as RequestStatus
from emporter.holds.services import Outcome, cancel_request, place_requests
from emporter.holds.services import change_pickup as change_pickup_service
from emporter.network.models import Branch
from emporter.patrons.models import Patron, of_household
from emporter.patrons.selectors import self_or_child
from emporter.privacy import services as privacy
from emporter.privacy.selectors import data_of

from .auth import PatronAuth
from .errors import ApiError, field_error
from .schemas import (
    BasketIn,
    BasketOut,
    BasketRefusedOut,
    BodyId,
    ErrorOut,
    InputSchema,
    LoanHistoryIn,
    MeOut,
    PageNumber,
    RequestOut,
    RequestPage,
)

router = Router(tags=["My requests"], auth=PatronAuth())

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,64}")
PER_PAGE = 50
BASKET_RESPONSES = {201: BasketOut, 207: BasketOut, frozenset({401, 403, 404, 409, 422}): BasketRefusedOut}


def place_basket(
    *,
    patron: Patron,
    payload: BasketIn,
    pickup_branch: Branch,
    channel: str,
    actor,
    idempotency_key: str | None,
    theirs: bool = False,
) -> Status:
    """201 when every item is placed; 207 when some are refused; when none is placed,
    the first refusal's status, code and message. Every item says what happened to it."""
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ApiError("idempotency_key_invalid")
    ids = list(dict.fromkeys(payload.record_ids))
    # place_requests expects records that exist; unknown ids are refused item by item.
    known = set(Record.objects.filter(pk__in=ids).values_list("pk", flat=True))
    placed = place_requests(
        patron=patron,
        record_ids=[i for i in ids if i in known],
        pickup_branch=pickup_branch,
        channel=channel,
        actor=actor,
        idempotency_key=idempotency_key,
        theirs=theirs,
    )
    by_id = {outcome.record_id: outcome for outcome in placed}
    outcomes = [by_id.get(i) or Outcome(i, error=ApiError("record_not_found")) for i in ids]
    items = [_item(outcome) for outcome in outcomes]
    refused = [o.error for o in outcomes if not o.ok]
    body = {"placed": len(items) - len(refused), "refused": len(refused), "items": items}
    if not refused:
        return Status(201, body)
    if len(refused) == len(items):
        first = refused[0]
        return Status(first.http_status, {"code": first.code, "message": first.message, **body})
    return Status(207, body)


def _item(outcome: Outcome) -> dict:
    if outcome.ok:
        return {"record_id": outcome.record_id, "ok": True, "replayed": outcome.replayed,
                "request": outcome.request, "http_status": 201}  # fmt: skip
    error = outcome.error
    return {"record_id": outcome.record_id, "ok": False, "replayed": False, "code": error.code,
            "message": error.message, "http_status": error.http_status}  # fmt: skip


def get_branch(branch_id: int) -> Branch:
    branch = Branch.objects.filter(pk=branch_id).first()
    if branch is None:
        raise ApiError("branch_not_found")
    return branch


def page_of(qs: QuerySet, page: int) -> dict:
    next_since = sync_point()  # before reading: what is read is at least as new
    total = qs.count()
    pages = max(1, -(-total // PER_PAGE))
    items = qs.select_related("record", "pickup_branch").order_by("-created_at", "-pk")
    # Past the last page: no items (a client reads pages until one is empty), not the
    # last page again.
    return {
        "total": total,
        "page": page,
        "pages": pages,
        "items": items[(page - 1) * PER_PAGE : page * PER_PAGE] if page <= pages else [],
        "next_since": next_since,
    }


# A change is stamped when written and seen once its transaction commits: a change
# stamped before an answer may commit after it (a library's reopening is one long
# transaction). The ``since`` of the next poll is therefore the start of the oldest
# transaction still open, less a margin for a stamp taken just before a transaction's
# first statement. One open longer than SYNC_STUCK is stuck, not writing: it does not
# hold every client's window back.
SYNC_MARGIN = datetime.timedelta(seconds=5)
SYNC_STUCK = datetime.timedelta(minutes=15)


def sync_point() -> datetime.datetime:
    now = timezone.now()
    oldest = now
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            (started,) = cursor.fetchone()
        if started is not None:
            oldest = max(min(now, started), now - SYNC_STUCK)
    # SQLite writes one transaction at a time, each short: the margin covers it.
    return oldest - SYNC_MARGIN


SINCE_FIRST = datetime.date(2000, 1, 1)


def changed_since(qs: QuerySet, since: datetime.datetime | None) -> QuerySet:
    """The requests placed or changed (any event: set aside, ready, cancelled…) at or
    after ``since``: what a client polling for news asks. A time without offset is the
    site's local time. A change is stamped when it is written, and a long transaction
    (a library reopening) commits later: clients poll from the ``next_since`` they were
    given (``sync_point``). Outside 2000 to tomorrow: refused (a year 1 or 9999 overflows)."""
    if since is None:
        return qs
    if timezone.is_naive(since):
        try:
            since = timezone.make_aware(since)
        except (OverflowError, ValueError):
            since = None
    now = timezone.now()
    if since is None or not (SINCE_FIRST <= since.date() <= now.date() + datetime.timedelta(days=1)):
        error = field_error(["query", "since"], "Between 2000-01-01 and tomorrow.", "range")
        raise ApiError("invalid_input", errors=[error])
    events = RequestEvent.objects.filter(request=OuterRef("pk"), at__gte=since)
    # News of the bag (a document joining it moves every document's deadline) and of the
    # pickup library (a reopening gives bags their days back) are the request's news too.
    bag_news = RequestEvent.objects.filter(request__bag=OuterRef("bag"), at__gte=since)
    switched = Q(pickup_branch__mode_changed_at__gte=since)
    return qs.filter(Q(created_at__gte=since) | Exists(events) | Exists(bag_news) | switched)


def filter_status(qs: QuerySet, status: str | None) -> QuerySet:
    if status and status != "active" and status not in RequestStatus.values:
        allowed = ", ".join(["active", *RequestStatus.values])
        raise ApiError(
            "invalid_input", errors=[field_error(["query", "status"], f"One of: {allowed}.", "enum")]
        )
    if status == "active":
        return qs.filter(status__in=ACTIVE)
    return qs.filter(status=status) if status else qs


def me_out(patron: Patron) -> Patron:
    rules = policy.limits_for(patron)
    patron.active_requests = patron.requests.filter(status__in=ACTIVE).count()
    patron.max_active = rules.max_active
    patron.promised_places = policy.promised_places(patron)
    return patron


@router.get("/me", response={200: MeOut, 401: ErrorOut}, summary="Who I am")
def me(request):
    return me_out(request.auth.patron)


@router.put(
    "/me/loan-history", response={200: MeOut, 401: ErrorOut}, summary="Keep or forget my loan history"
)
def set_loan_history(request, payload: LoanHistoryIn):
    """`library`: returned loans are forgotten when the library's rules say (120 days at
    most); `keep`: kept until changed; `forget`: forgotten at each return, and what is
    kept so far at once (for good)."""
    patron = request.auth.patron
    privacy.choose_loan_history(patron=patron, choice=payload.loan_history)
    return me_out(patron)


@router.get("/me/data", response={200: dict, 401: ErrorOut}, summary="Everything kept about me")
def my_data(request):
    """What the network holds about the signed-in patron, as the account page's download
    gives it: their card's details, requests and loans still linked to them, notices,
    surprise bags, pickup times, apps."""
    return data_of(request.auth.patron)


@router.post("/requests", response=BASKET_RESPONSES, summary="Place requests (a basket)")
def place(request, payload: BasketIn, idempotency_key: str | None = Header(None, alias="Idempotency-Key")):
    """One request per record, each with a copy set aside at once. Send an
    `Idempotency-Key` header (1–64 visible ASCII characters, new for each basket): a
    retry with the same key returns the same requests instead of placing new ones (items
    refused the first time are simply tried again)."""
    patron = self_or_child(request.auth.patron, payload.for_patron_id)
    if patron is None:
        raise ApiError("patron_not_found")
    # None (left out): the home library; any id, 0 included, must name a branch.
    branch = patron.home_branch if payload.pickup_branch_id is None else get_branch(payload.pickup_branch_id)
    return place_basket(
        patron=patron,
        payload=payload,
        pickup_branch=branch,
        channel=Channel.APP,
        actor=request.user,
        idempotency_key=idempotency_key,
        # A child's card refusing is said as theirs, not "your account".
        theirs=patron != request.auth.patron,
    )


@router.get("/requests", response={200: RequestPage, 401: ErrorOut}, summary="My requests")
def my_requests(
    request, status: str | None = None, since: datetime.datetime | None = None, page: PageNumber = 1
):
    """Newest first, the caller's and their children's (`patron_id` says whose), as the
    account page and `GET /bags` show them. `status`: `active` (waiting, placed, ready)
    or one status; all if absent. `since` (ISO 8601): only those placed or changed since
    then, to poll for news: pass the `next_since` of the first page of your last poll
    (a change committed while you read is then read next time, perhaps twice, never
    missed; your own clock is not needed)."""
    mine = filter_status(Request.objects.filter(of_household(request.auth.patron)), status)
    return page_of(changed_since(mine, since), page)


def my_request(request, request_id: int) -> Request:
    # A child's in the caller's care too: a guardian cancels and moves them on the web.
    found = Request.objects.filter(of_household(request.auth.patron), pk=request_id).first()
    if found is None:
        raise ServiceError("not_found")
    return found


@router.get("/requests/{request_id}", response={200: RequestOut, 404: ErrorOut}, summary="One of my requests")
def get_request(request, request_id: int):
    return my_request(request, request_id)


@router.post(
    "/requests/{request_id}/cancel",
    response={200: RequestOut, frozenset({404, 409}): ErrorOut},
    summary="Cancel one of my requests",
)
def cancel(request, request_id: int):
    """Until it is collected. The copy goes back to the shelf or to the next in line.
    Cancelling a request already cancelled answers it as it is (a retry after a timeout
    is no error); one collected or expired answers 409 `not_cancellable`."""
    hold = my_request(request, request_id)
    if hold.status == RequestStatus.CANCELLED:
        return hold
    return cancel_request(request=hold, actor=request.user)


class PickupIn(InputSchema):
    pickup_branch_id: BodyId


@router.post(
    "/requests/{request_id}/pickup",
    response={200: RequestOut, frozenset({404, 409, 422}): ErrorOut},
    summary="Collect one of my requests at another library",
)
def change_pickup(request, request_id: int, payload: PickupIn):
    """While its document has not left its shelf (the request waits for a copy, or its
    copy is still set aside): 409 `pickup_not_changeable` after that. 422
    `branch_not_accepting` for a library not taking requests; 409 `pickup_no_copy` when
    that library may have no copy set aside (the request is then unchanged)."""
    hold = my_request(request, request_id)
    return change_pickup_service(
        request=hold, branch=get_branch(payload.pickup_branch_id), actor=request.user
    )
