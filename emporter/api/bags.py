"""A patron's ready bags: when to collect them, and "I'm here" at the door.

A bag that is not the caller's (or a child's in their care) answers 404 like one that
does not exist."""

import datetime

from ninja import Field, Router, Schema, Status
from pydantic import AwareDatetime

from emporter.curbside import selectors, services
from emporter.curbside.models import LIVE, Appointment
from emporter.errors import ServiceError
from emporter.holds.models import Bag
from emporter.patrons.models import of_household

from .auth import PatronAuth
from .errors import ApiError
from .schemas import BranchRef, ErrorOut, InputSchema

router = Router(tags=["My bags"], auth=PatronAuth())


class AppointmentOut(Schema):
    state: str
    starts_at: datetime.datetime | None = None
    arrived_at: datetime.datetime | None = None

    @staticmethod
    def resolve_starts_at(obj):
        return obj.slot.starts_at if obj.slot_id else None


class BagOut(Schema):
    id: int
    label: str
    branch: BranchRef
    hold_until: datetime.date | None = Field(
        description="Its last day; while `library_closed`, it does not expire (it gets its days back "
        "when the library reopens), as the account page says."
    )
    ready: int = Field(description="Documents ready in it.")
    library_closed: bool = Field(
        description="Its library is closed for now: the bag waits there until it reopens."
    )
    has_times: bool = Field(description="Its library offers pickup times (never while it is closed).")
    open_now: bool = Field(description='Its library is open now: "I\'m here" works.')
    opens_next: datetime.datetime | None = Field(
        description="When it is closed now: when it opens next, before the bag's last day."
    )
    appointment: AppointmentOut | None

    @staticmethod
    def resolve_has_times(obj):
        # The account page offers no time while the library is closed: nor does the API.
        return obj.has_times and not obj.library_closed


class SlotOut(Schema):
    starts_at: datetime.datetime
    places_left: int


class BookIn(InputSchema):
    # With its offset: "10:00" alone would be read in no particular time zone.
    starts_at: AwareDatetime = Field(description="One of the `starts_at` of `GET …/times`, with its offset.")


def _bag(request, bag_id: int) -> Bag:
    patron = request.auth.patron
    bag = Bag.objects.filter(of_household(patron), pk=bag_id).first()
    if bag is None:
        raise ApiError("bag_not_found")
    return bag


def _out(request, bag_id: int):
    patron = request.auth.patron
    for bag in selectors.bags_of(patron.household_ids()):
        if bag.pk == bag_id:
            return bag
    raise ServiceError("bag_not_ready")


@router.get("/bags", response={200: list[BagOut], 401: ErrorOut}, summary="My ready bags")
def my_bags(request):
    """Open bags with something ready, the caller's and their children's."""
    patron = request.auth.patron
    return selectors.bags_of(patron.household_ids())


@router.get(
    "/bags/{bag_id}/times", response={200: list[SlotOut], 404: ErrorOut}, summary="Times to collect a bag"
)
def times(request, bag_id: int):
    """Free times from now to the bag's deadline; empty when its library offers none."""
    bag = _bag(request, bag_id)
    return [
        {"starts_at": c.starts_at, "places_left": c.left}
        for day in selectors.available(bag=bag)
        for c in day.choices
    ]


@router.post(
    "/bags/{bag_id}/appointment",
    response={200: BagOut, frozenset({404, 409, 422}): ErrorOut},
    summary="Book a time to collect a bag",
)
def book(request, bag_id: int, payload: BookIn):
    """Replaces the bag's earlier time. 409 `slot_full` when the last place was just
    taken; 422 `slot_unavailable` for a time not offered; 409 `no_pickup_times`."""
    services.book(bag=_bag(request, bag_id), starts_at=payload.starts_at)
    return _out(request, bag_id)


@router.delete(
    "/bags/{bag_id}/appointment", response={204: None, 404: ErrorOut}, summary="Give a pickup time up"
)
def cancel(request, bag_id: int):
    live = Appointment.objects.filter(bag=_bag(request, bag_id), state__in=LIVE).first()
    if live is not None:
        services.cancel(appointment=live)
    return Status(204, None)


@router.post(
    "/bags/{bag_id}/here", response={200: BagOut, frozenset({404, 409}): ErrorOut}, summary="I'm at the door"
)
def here(request, bag_id: int):
    """The door's screen shows the caller at once. 409 `bag_not_ready` before anything is ready."""
    services.i_am_here(bag=_bag(request, bag_id))
    return _out(request, bag_id)


@router.delete(
    "/bags/{bag_id}/here", response={204: None, 404: ErrorOut}, summary="I'm not at the door any more"
)
def not_here(request, bag_id: int):
    """Takes "I'm here" back: a booked time is kept, an arrival without one is cancelled."""
    services.not_here(bag=_bag(request, bag_id))
    return Status(204, None)
