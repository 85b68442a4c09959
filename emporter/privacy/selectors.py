"""A patron's data, all of it, as the patron may take it away (GDPR art. 15 and 20)."""

from django.db.models import Prefetch
from django.utils.translation import gettext

from emporter.api.models import ApiToken
from emporter.curbside.models import Appointment
from emporter.desk.models import Loan
from emporter.discovery.models import SurpriseRequest
from emporter.holds.models import Request, RequestEvent
from emporter.notices.models import Notice
from emporter.patrons.models import Patron, PatronCategory
from emporter.patrons.search import phone_variants
from emporter.patrons.throttle import counted_against

REQUEST_FIELDS = (
    *("status", "channel", "created_at", "ready_at", "hold_until", "closed_at"),
    *("record__title", "pickup_branch__name"),
)
LOAN_FIELDS = (
    *("checked_out_at", "due_date", "returned_at"),
    *("copy__barcode", "copy__record__title", "branch__name"),
)


def _when(value):
    return value.isoformat() if value else None


def data_of(patron: Patron) -> dict:
    """Everything that names ``patron``: their card's details, their requests and loans
    still linked to them, the notices sent, surprise bags, pickup times and apps."""
    return {
        "patron": _details(patron),
        "requests": [
            {
                "title": r.record.title,
                "status": r.status,
                "pickup_library": r.pickup_branch.name,
                "channel": r.channel,
                "placed_on": _when(r.created_at),
                "ready_on": _when(r.ready_at),
                "held_until": _when(r.hold_until),
                "closed_on": _when(r.closed_at),
                # What staff wrote about it (a cancellation's reason, said to them then).
                "staff_notes": [event.note for event in r.events.all()],
            }
            # Only what is written out: a five-year history is thousands of requests, each
            # with a dozen events, and a record's summary and subjects are not theirs.
            for r in Request.objects.filter(patron=patron)
            .select_related("record", "pickup_branch")
            .only(*REQUEST_FIELDS)
            .prefetch_related(
                Prefetch("events", RequestEvent.objects.exclude(note="").only("request", "note"))
            )
            .order_by("pk")
        ],
        "loans": [
            {
                "title": loan.copy.record.title,
                "barcode": loan.copy.barcode,
                "library": loan.branch.name,
                "checked_out": _when(loan.checked_out_at),
                "due": _when(loan.due_date),
                "returned": _when(loan.returned_at),
            }
            for loan in Loan.objects.filter(patron=patron)
            .select_related("copy__record", "branch")
            .only(*LOAN_FIELDS)
            .order_by("pk")
        ],
        "notices": [
            _notice(notice, patron) for notice in Notice.objects.filter(patron=patron).order_by("pk")
        ],
        # Theirs and their children's now (not a former guardian's: the surprise page's rule).
        "surprise_bags": [
            {
                "for": f"{s.patron.first_name} {s.patron.last_name}",
                "asked_on": _when(s.created_at),
                "status": s.status,
                "how_many": s.how_many,
                "age": s.age,
                "kinds": s.kinds,
                "tastes": s.tastes,
                "avoid": s.avoid,
            }
            for s in SurpriseRequest.objects.filter(patron__in=patron.household_ids())
            .select_related("patron")
            .order_by("pk")
        ],
        "pickup_times": [
            {
                "at": _when(a.slot.starts_at if a.slot else None),
                "state": a.state,
                "booked": _when(a.created_at),
            }
            for a in Appointment.objects.filter(bag__patron=patron).select_related("slot").order_by("pk")
        ],
        "apps": list(
            ApiToken.objects.filter(user=patron.user_id)
            .order_by("pk")
            .values("created_at", "last_used_at", "expires_at")
        ),
        # The privacy notice names them among what is kept: the counts, not the addresses
        # they were typed from (someone else's, when it was someone guessing).
        "wrong_pins": [
            {"in_a_row": f.failures, "last": _when(f.updated_at), "locked_until": _when(f.locked_until)}
            for f in counted_against(patron.card_number).order_by("pk")
        ],
    }


def _notice(notice: Notice, patron: Patron) -> dict:
    # A child's notices went to their guardian's address, which is the guardian's data
    # (a former guardian's, for a child now in another's care): said, not given.
    if notice.to_guardian is not None:  # noted when it was sent
        own = not notice.to_guardian
    else:
        digits = "".join(c for c in notice.sent_to if c.isdigit())
        own_number = bool(patron.phone_digits) and digits in phone_variants(patron.phone_digits)
        own = notice.sent_to in ("", patron.email, patron.phone) or (notice.channel == "sms" and own_number)
        # Sent before that was noted: an adult's other address is taken for their own
        # former one (a child come of age within the notices' retention cannot be told).
        own = own or (patron.guardian_id is None and patron.category != PatronCategory.CHILD)
    return {
        "kind": notice.kind,
        "channel": notice.channel,
        "state": notice.state,
        "sent_to": notice.sent_to if own else gettext("your guardian’s address"),
        "subject": notice.subject,
        "created_at": notice.created_at,
        "sent_at": notice.sent_at,
    }


def _details(patron: Patron) -> dict:
    guardian = patron.guardian
    return {
        "card_number": patron.card_number,
        # The library system's number for them, which ties them to its records.
        "library_system_id": patron.source_id or None,
        "first_name": patron.first_name,
        "last_name": patron.last_name,
        "email": patron.email,
        # The address the mail server refused as unknown, if it did: no email goes to it.
        "email_refused": patron.email_refused or None,
        "phone": patron.phone,
        "home_library": patron.home_branch.name,
        "category": patron.category,
        "language": patron.language,
        "told_by": patron.notice_channel,
        "card_expires": _when(patron.card_expires),
        # Why staff blocked the card, if they did: what they wrote is about them.
        "blocked_reason": patron.blocked_reason,
        "loan_history": patron.loan_history,
        "guardian": f"{guardian.first_name} {guardian.last_name}" if guardian else None,
        "children": [f"{c.first_name} {c.last_name}" for c in Patron.objects.filter(guardian=patron)],
    }
