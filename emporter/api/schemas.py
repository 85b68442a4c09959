"""What the API reads and writes. Labels are translated into the request's language."""

import datetime
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict, Strict
from pydantic_core import PydanticCustomError

from emporter.inputs import MAX_REASON, has_control_chars, one_line

MAX_BASKET = 50
# A database id: 64-bit signed. A larger one makes SQLite raise inside an IN (...) query.
DatabaseId = Annotated[int, Field(ge=1, le=2**63 - 1)]
# The same in a JSON body, where an id is a number: "7" or true (read as 1) is a client's
# bug, and taking it would place a request for another record.
BodyId = Annotated[int, Strict(), Field(ge=1, le=2**63 - 1)]
# Pages count from 1; a size out of range is refused, not bent into another page.
MAX_PER_PAGE = 100
PageNumber = Annotated[int, Field(ge=1, le=1_000_000)]
PageSize = Annotated[int, Field(ge=1, le=MAX_PER_PAGE)]


def _typed_text(value: str) -> str:
    if has_control_chars(value):
        raise PydanticCustomError("control_character", "Control characters are not allowed here.")
    return value


# Every string the API reads: a NUL (or another character no keyboard types) is refused
# with 422 invalid_input before it reaches a query, where PostgreSQL would fail on it.
Text = Annotated[str, AfterValidator(_typed_text)]


class InputSchema(Schema):
    """What a client sends: a field the API does not know is refused (422 invalid_input),
    not ignored: "pickup_branch" for "pickup_branch_id" must not place at the home library."""

    model_config = ConfigDict(extra="forbid")


class FieldErrorOut(Schema):
    loc: list[str | int] = Field(description='Where: ["body", "record_ids", 0], ["query", "status"]…')
    msg: str
    type: str


class ErrorOut(Schema):
    code: str = Field(description="Stable, machine-readable: branch on this, not on the message.")
    message: str = Field(description="For people, in the language of Accept-Language (fr by default).")
    errors: list[FieldErrorOut] | None = Field(None, description="With invalid_input: the fields at fault.")


class TokenIn(InputSchema):
    """Either card_number + pin (a patron) or username + password (staff)."""

    card_number: Text | None = None
    pin: Text | None = None
    username: Text | None = None
    password: Text | None = None


class TokenOut(Schema):
    token: str = Field(description="Send it as `Authorization: Bearer <token>`; shown only once.")
    scope: str
    expires_at: datetime.datetime


class BranchRef(Schema):
    id: int
    code: str
    name: str


class BranchOut(BranchRef):
    is_central: bool
    service_mode: str
    accepts_requests: bool


class RecordRef(Schema):
    id: int
    title: str
    responsibility: str
    doc_type: str
    doc_type_label: str = Field(alias="get_doc_type_display")


class RecordOut(RecordRef):
    authors: list[str] = Field(
        alias="author_headings",
        description="The record's authors and contributors as name headings (the main entry first), "
        "as the record page links them: each one searches the author field.",
    )
    publisher: str
    year: int | None
    isbn: str
    language: str
    audience: str


class HitOut(RecordOut):
    copies: int
    available: int
    available_at: list[str] = Field(description="Branches with a copy on the shelf, central first.")


class FacetOut(Schema):
    value: str
    label: str
    count: int


class SearchOut(Schema):
    q: str
    field: str
    total: int
    page: int
    pages: int
    per_page: int
    available_count: int
    approximate: bool = Field(description="Nothing matched exactly: these are look-alike titles.")
    filtered_out: bool = Field(
        False, description="The words match documents, but none with the filters given: remove one."
    )
    corrected: str = Field(
        "", description="When the words matched nothing: the known words searched instead (did you mean)."
    )
    common_words_only: bool = Field(
        False,
        description='Every word is a function word ("le", "c"): only the title they are was looked for,'
        " and none is: ask for another word.",
    )
    items: list[HitOut]
    facets: dict[str, list[FacetOut]]


class AvailabilityOut(Schema):
    branch: BranchOut
    copies: int
    on_shelf: int = Field(description="Copies on the shelf that can be requested now.")


class RecordDetailOut(RecordOut):
    series: str
    summary: str
    subjects: list
    age_min: int | None
    age_max: int | None
    availability: list[AvailabilityOut]


class RequestOut(Schema):
    id: int
    record: RecordRef
    status: str
    status_label: str = Field(alias="get_status_display")
    channel: str
    pickup_branch: BranchRef
    created_at: datetime.datetime
    placed_at: datetime.datetime | None
    ready_at: datetime.datetime | None
    hold_until: datetime.date | None
    closed_at: datetime.datetime | None
    bag_id: int | None = Field(None, description="The bag it waits in once ready (`GET /bags`).")
    patron_id: int | None = Field(
        None, description="Whose it is: the caller's own id (`GET /me`), or a child's in their care."
    )


class CopyOut(Schema):
    barcode: str | None
    call_number: str
    branch: BranchRef


class StaffRequestOut(RequestOut):
    patron_id: int | None = Field(description="None once a collected request's borrower is forgotten.")
    held_copy: CopyOut | None = Field(None, description="The copy set aside, for the pick list.")

    @staticmethod
    def resolve_held_copy(obj):
        return obj.copy


class RequestPage(Schema):
    total: int
    page: int
    pages: int
    items: list[RequestOut]
    next_since: datetime.datetime = Field(
        description="The `since` of the next poll (take the first page's): what changes while "
        "you read is read next time, perhaps twice, never missed."
    )


class StaffRequestPage(RequestPage):
    items: list[StaffRequestOut]


class BasketBase(InputSchema):
    record_ids: list[BodyId] = Field(min_length=1, max_length=MAX_BASKET)
    pickup_branch_id: BodyId | None = Field(None, description="Default: the patron's home branch.")


class BasketIn(BasketBase):
    for_patron_id: BodyId | None = Field(
        None,
        description="A child in the caller's care (`GET /me` `children`) the requests are for; "
        "default: the caller. Their card and limits are checked, not the caller's.",
    )


class ItemOut(Schema):
    record_id: int
    ok: bool
    replayed: bool = Field(description="True when the Idempotency-Key matched an earlier call.")
    request: RequestOut | None = None
    code: str | None = None
    message: str | None = None
    http_status: int = Field(description="What this item alone would have answered: 201, 409, 422…")


class BasketOut(Schema):
    placed: int
    refused: int
    items: list[ItemOut]


class BasketRefusedOut(ErrorOut):
    """Nothing was placed. When the basket was read and every item refused, code and
    message are the first item's and the items are listed; otherwise (no token, an
    unknown pickup branch, a bad body) there are no items."""

    placed: int | None = None
    refused: int | None = None
    items: list[ItemOut] | None = None


class PatronOut(Schema):
    id: int
    card_number: str
    first_name: str
    last_name: str
    phone: str
    email: str
    category: str
    home_branch: BranchRef
    blocked_reason: str
    card_expires: datetime.date | None


class ChildOut(Schema):
    id: int
    first_name: str


class MeOut(PatronOut):
    active_requests: int
    max_active: int
    promised_places: int = Field(
        0,
        description="Places held by open surprise bags: counted against `max_active` with `active_requests`.",
    )
    children: list[ChildOut] = Field(
        default_factory=list, description="The children in the caller's care: `patron_id` of their requests."
    )

    @staticmethod
    def resolve_children(obj):
        return list(obj.children_by_name())

    # "library" (the library's rules), "keep" or "forget": PUT /me/loan-history.
    loan_history: str


class LoanHistoryIn(InputSchema):
    loan_history: Literal["library", "keep", "forget"]


def _reason(value: str) -> str:
    """Said to the patron in their email: one line, as the phone desk's page writes it,
    and refused when nothing is left of it (a blank "Reason:")."""
    reason = one_line(value)
    if not reason:
        raise PydanticCustomError("blank_reason", "Say why the request is cancelled.")
    return reason


class StaffCancelIn(InputSchema):
    # A NUL is refused as in every text the API reads (Text); then written as one line.
    reason: Annotated[Text, AfterValidator(_reason)] = Field(min_length=1, max_length=MAX_REASON)
