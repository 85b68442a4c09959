"""A patron's loans, and the children's in their care: when they are due, and renewing
them, as the account page does (``desk.views.renew``).

A loan that is not the caller's (or a child's in their care) answers 404 like one that
does not exist. A child's loan is renewed on the child's card: theirs is checked."""

import datetime

from ninja import Field, Header, Router, Schema

from emporter.desk import services
from emporter.desk.models import Loan
from emporter.patrons.models import of_household

from .auth import PatronAuth
from .errors import ApiError
from .requests import IDEMPOTENCY_KEY
from .schemas import BranchRef, ErrorOut, RecordRef

router = Router(tags=["My loans"], auth=PatronAuth())


class LoanOut(Schema):
    id: int
    patron_id: int | None = Field(
        None, description="Whose it is: the caller's own id (`GET /me`), or a child's in their care."
    )
    record: RecordRef
    branch: BranchRef = Field(description="Where it was lent.")
    checked_out_at: datetime.datetime
    due_date: datetime.date
    renewals: int = Field(description="Times renewed so far.")

    @staticmethod
    def resolve_record(obj):
        return obj.copy.record


def _current(request):
    return (
        Loan.objects.filter(of_household(request.auth.patron), returned_at__isnull=True)
        .select_related("copy__record", "branch")
        .order_by("due_date", "pk")
    )


@router.get("/loans", response={200: list[LoanOut], 401: ErrorOut}, summary="My loans")
def my_loans(request):
    """What the caller and their children have out now, soonest due first."""
    return list(_current(request))


@router.post(
    "/loans/{loan_id}/renew",
    response={200: LoanOut, frozenset({403, 404, 409, 422}): ErrorOut},
    summary="Renew one of my loans",
)
def renew(request, loan_id: int, idempotency_key: str | None = Header(None, alias="Idempotency-Key")):
    """One more loan period from today or the due date, whichever is later. 409
    `not_renewable` once the renewals allowed are used, `requested_by_someone_else` when
    a patron waits for the title; 403 `patron_blocked` or `card_expired` for the caller's
    card, `child_blocked` or `child_card_expired` for a child's, when it may not renew.

    Safe to retry. Send an `Idempotency-Key` header (1–64 visible ASCII characters, new
    for each renewal; 422 `idempotency_key_invalid` otherwise): a retry with a key this
    loan was renewed with answers 200 with the loan as it is now and renews nothing more,
    even once no renewal is left or someone waits for the title. Keys are kept per loan.
    Without a key, a loan renewed today is not renewed again today: asked again while a
    renewal is left, it answers 200 as it is (`renewals` unchanged); with none left, 409
    `not_renewable`. A returned loan answers 404 `loan_not_found`, retry or not."""
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ApiError("idempotency_key_invalid")
    loan = _current(request).select_related("patron").filter(pk=loan_id).first()
    if loan is None:
        raise ApiError("loan_not_found")
    theirs = loan.patron_id != request.auth.patron.pk
    return services.renew(loan=loan, patron=loan.patron, theirs=theirs, key=idempotency_key)
