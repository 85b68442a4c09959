"""What the network keeps about people, and for how long (docs/architecture.md, "Privacy").

- A loan forgets its borrower when its loan policy says (``desk.services.anonymise_returned``),
  and the request behind it with it.
- A request that became no loan (not found, cancelled, expired), a surprise bag with the
  tastes and age written in it, and a closed bag left empty forget their patron
  ``REQUEST_HISTORY_DAYS`` after closing (``forget_closed``, hourly).
- A patron may ask to be erased (``erase_patron``: the admin's deletion of a patron): once
  nothing of theirs is under way, everything that names them goes, and the figures stay.
"""

import datetime
import logging
import re
import secrets
from importlib import import_module

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from emporter import adminlog
from emporter.api.models import ApiToken
from emporter.desk.models import Loan
from emporter.desk.services import anonymise_loans
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.errors import ServiceError
from emporter.holds.models import ACTIVE, UNCOLLECTED, Bag, Request, patron_pseudonym
from emporter.holds.services import forget_empty_bags, forget_patrons, still_in_a_bag
from emporter.notices.models import Notice
from emporter.patrons import throttle
from emporter.patrons.models import LoanHistory, Patron, SignInFailures
from emporter.patrons.search import phone_variants

audit = logging.getLogger("emporter.audit")

BATCH = 500


def forget_closed(*, now: datetime.datetime | None = None, batch: int = BATCH) -> int:
    """Forget the patrons of requests closed without a loan, and of surprise bags, closed
    more than ``REQUEST_HISTORY_DAYS`` ago; delete closed bags left empty. At most
    ``batch`` of each a call (jobs.schedule calls it again while it does a full batch).
    Returns how many requests, surprise bags and bags were forgotten."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.REQUEST_HISTORY_DAYS)
    requests = requests_to_forget(cutoff)
    with transaction.atomic():
        forgotten = forget_patrons(request_ids=list(requests.values_list("pk", flat=True)[:batch]))
    surprises = SurpriseRequest.objects.filter(
        Q(status=SurpriseStatus.COMPOSED, composed_at__lt=cutoff)
        | Q(status=SurpriseStatus.CANCELLED, created_at__lt=cutoff),
        patron__isnull=False,
        to_tell=False,  # cancelled by the library, its patron not told yet (notices.compose)
    )
    with transaction.atomic():
        forgotten += _forget_surprises(list(surprises.values_list("pk", flat=True)[:batch]))
    # Bags emptied before bags were deleted with their last request (older data): counted,
    # so that the scheduler's next call takes the next batch.
    return forgotten + forget_empty_bags(limit=batch)


def requests_to_forget(cutoff: datetime.datetime):
    """Requests closed without a loan before ``cutoff`` that still name their patron,
    read through the partial index ``request_to_forget`` (a few rows, not every request
    still naming a patron), but for those whose copy is still in their bag."""
    closed_long_ago = Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, created_at__lt=cutoff)
    requests = Request.objects.filter(closed_long_ago, status__in=UNCOLLECTED, patron__isnull=False)
    # Lent after its bag expired (desk.lend_expired): forgotten with its loan.
    return requests.filter(loan__isnull=True).exclude(in_their_bag())


def in_their_bag() -> Q:
    """``holds.services.still_in_a_bag``, less a copy lent at our door since (a copy
    scanned out of its bag at home loses the bag's link there: ``desk.receive_home``),
    whose place says nothing of this request."""
    lent_since = Loan.objects.filter(copy=OuterRef("copy_id"), checked_out_at__gt=OuterRef("closed_at"))
    return still_in_a_bag() & ~Q(Exists(lent_since))


def _forget_surprises(ids: list[int]) -> int:
    """A closed surprise bag keeps what the statistics count (when, where, how many, which
    kinds), not who asked, for whom, their age or their tastes."""
    SurpriseRequest.requests.through.objects.filter(surpriserequest_id__in=ids).delete()
    adminlog.forget_lines(SurpriseRequest, ids)
    return SurpriseRequest.objects.filter(pk__in=ids).update(
        patron=None, asked_by=None, age=None, tastes="", avoid=""
    )


def choose_loan_history(*, patron: Patron, choice: str) -> None:
    """The patron's choice for their returned loans (Koha's patron privacy): the library's
    rules, kept, or forgotten at return. Choosing to be forgotten forgets, at once, what
    is kept so far (a return being written meanwhile forgets itself once it is in:
    ``desk.services.check_in``)."""
    if choice not in LoanHistory.values:
        raise ValueError(f"not a loan history choice: {choice!r}")
    Patron.objects.filter(pk=patron.pk).update(loan_history=choice)
    patron.loan_history = choice
    if choice == LoanHistory.FORGET:
        anonymise_loans(Loan.objects.filter(patron=patron, returned_at__isnull=False))


def why_not_erasable(patron: Patron) -> str:
    """The error code saying why ``patron`` cannot be erased now, or "" when they can:
    nothing of the library's may be lost track of (a document at home, one set aside),
    nor a child left without the adult answering for them."""
    if Loan.objects.filter(patron=patron, returned_at__isnull=True).exists():
        return "erase_loans_out"
    if Request.objects.filter(patron=patron, status__in=ACTIVE).exists():
        return "erase_requests_under_way"
    if Request.objects.filter(in_their_bag(), patron=patron).exists():
        return "erase_documents_in_bag"
    if SurpriseRequest.objects.filter(
        Q(patron=patron) | Q(asked_by=patron), status=SurpriseStatus.OPEN
    ).exists():
        return "erase_surprise_open"
    if Patron.objects.filter(guardian=patron).exists():
        return "erase_guardian"
    return ""


def erase_patron(*, patron_id: int, actor=None, sessions: bool = True) -> None:
    """Erase a patron at their request (GDPR art. 17): their returned loans and closed
    requests forget them whatever the policies keep, their surprise bags and closed bags
    too; their notices, sign-in records, admin history, account (PIN, sessions, apps)
    and the patron go. Refused (``why_not_erasable``) while anything is under way."""
    with transaction.atomic():
        patron = Patron.objects.select_for_update().select_related("user").get(pk=patron_id)
        if code := why_not_erasable(patron):
            raise ServiceError(code, name=str(patron))
        _forget_admin_history(patron)
        anonymise_loans(Loan.objects.filter(patron=patron))
        request_ids = list(Request.objects.filter(patron=patron).values_list("pk", flat=True))
        forget_patrons(request_ids=request_ids)
        # Their pseudonym is recomputable from their id, which the audit log keeps: one
        # random value instead, on every request of theirs (forgotten at return before
        # too), still counts them as one person in the statistics (holds/0015 indexes it).
        Request.objects.filter(patron_pseudonym=patron_pseudonym(patron.pk)).update(
            patron_pseudonym=secrets.token_hex(16)
        )
        _forget_surprises(list(SurpriseRequest.objects.filter(patron=patron).values_list("pk", flat=True)))
        # A bag they asked for a child (their guardian then) is the child's: only the
        # adult goes from it; it stays on the child's account for its usual time.
        SurpriseRequest.objects.filter(asked_by=patron).update(asked_by=None, ask_key=None)
        # A bag left with no request at all (open or not) names only them.
        Bag.objects.filter(patron=patron).exclude(Exists(Request.objects.filter(bag=OuterRef("pk")))).delete()
        # Notices written to them as a child's guardian are the child's, and stay: without
        # the address of the adult erased (a former guardian, the child now in another's care).
        if patron.email:
            # The server's answer quotes the address too ("550 5.1.1 <paul@…>"), and so
            # does a notice failed at once at an address it had refused (sent_to empty).
            refused = Q(error_code="address_refused", last_error__icontains=patron.email)
            named = Q(sent_to=patron.email) | refused
            written = Notice.objects.exclude(patron=patron).filter(named)
            # Not a notice of someone whose own address it is too (a family sharing one).
            written.exclude(patron__email__iexact=patron.email).update(sent_to="", last_error="")
        _forget_number_in_notices(patron)
        throttle.forget_card(patron.card_number)
        # Typed at a staff sign-in (the admin's, the API's name and password), the card and
        # the account's name are counted as names too, with the address.
        for name in {patron.card_number, patron.user.username}:
            throttle.unlock_name(name)
            throttle.forget_card(name)
        # Their sessions (a basket in one) go now, not when they expire. (Not for cards
        # expired for years, erased by the hundred: they have none, and each look reads
        # every live session.)
        if sessions:
            _delete_sessions(patron.user_id)
        # The account goes with the patron (Patron.user cascades): its PIN and its apps'
        # tokens.
        patron.user.delete()
    audit.info("privacy: %s erased patron %s", getattr(actor, "pk", None), patron_id)


def _forget_number_in_notices(patron: Patron) -> None:
    """Texts sent to ``patron``'s number as someone else's guardian, however it was typed
    then ("06 12 34 56 78" since tidied to "0612345678"): the same digits."""
    digits = patron.phone_digits
    if not digits:
        return
    # "+33 6 12 34 56 78" and "06 12 34 56 78" are one phone (the phone desk's rule).
    variants = phone_variants(digits)
    texts = Notice.objects.exclude(patron=patron).filter(channel="sms", sent_to__endswith=digits[-1])
    same = [
        pk
        for pk, sent_to, own in texts.values_list("pk", "sent_to", "patron__phone_digits")
        if "".join(c for c in sent_to if c.isdigit()) in variants and own not in variants
    ]
    Notice.objects.filter(pk__in=same).update(sent_to="")


def _forget_admin_history(patron: Patron) -> None:
    """The admin's log lines about the patron, their account, and the rows that go with
    them here (notices, bags, apps' tokens); those about their requests, loans and
    surprise bags go as each forgets them (``adminlog``)."""
    rows = {
        Patron: [patron.pk],
        type(patron.user): [patron.user_id],
        Notice: Notice.objects.filter(patron=patron).values_list("pk", flat=True),
        Bag: Bag.objects.filter(patron=patron).values_list("pk", flat=True),
        ApiToken: ApiToken.objects.filter(user_id=patron.user_id).values_list("pk", flat=True),
    }
    for model, ids in rows.items():
        adminlog.forget_lines(model, ids)
    # Lines about rows of theirs that forgot them before this (a notice deleted since, a
    # sign-in count's "!pin b0012 …", an app revoked when tokens were written with their
    # user): by their card, in any capitals, and by the card first issued; whole, and on
    # those kinds of rows only (a card "12" is in "Les 12 travaux", and in other patrons'
    # cards).
    theirs = (Patron, type(patron.user), Notice, Bag, SignInFailures, ApiToken)
    kinds = ContentType.objects.get_for_models(*theirs).values()
    for card in {patron.card_number, patron.user.username}:
        whole = rf"(^|[^0-9A-Za-z]){re.escape(card)}([^0-9A-Za-z]|$)"
        LogEntry.objects.filter(content_type__in=kinds, object_repr__iregex=whole).delete()


def _delete_sessions(user_id: int) -> None:
    """The database sessions of ``user_id`` (sessions store the id as text, in an
    encoded blob: read, not searched)."""
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore
    model = store.get_model_class()
    ours = [
        session.session_key
        for session in model.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500)
        if str(store().decode(session.session_data).get("_auth_user_id")) == str(user_id)
    ]
    model.objects.filter(session_key__in=ours).delete()


def erase_expired_cards(*, today: datetime.date | None = None, batch: int = 100) -> int:
    """Erase the patrons whose card expired more than ``EXPIRED_CARDS_ERASED_AFTER_DAYS``
    ago (0, the default: never; the network decides, often a year), as the storage
    limitation asks: those with nothing under way (``why_not_erasable``), ``batch`` at
    most a call. A card still in the library system's export comes back with the next
    import: erase it there too. Returns how many were erased."""
    days = settings.EXPIRED_CARDS_ERASED_AFTER_DAYS
    if not days:
        return 0
    cutoff = (today or timezone.localdate()) - datetime.timedelta(days=days)
    # Not guardians, nor anyone with something under way (checked again under the lock):
    # those stay out of the way of the others, call after call.
    under_way = (
        Exists(Patron.objects.filter(guardian=OuterRef("pk")))
        | Exists(Request.objects.filter(patron=OuterRef("pk"), status__in=ACTIVE))
        | Exists(Loan.objects.filter(patron=OuterRef("pk"), returned_at__isnull=True))
        | Exists(SurpriseRequest.objects.filter(patron=OuterRef("pk"), status=SurpriseStatus.OPEN))
    )
    candidates = (
        Patron.objects.filter(card_expires__lt=cutoff).exclude(under_way).order_by("card_expires", "pk")
    )
    erased = 0
    for patron_id in candidates.values_list("pk", flat=True)[: batch * 5]:
        try:
            erase_patron(patron_id=patron_id, sessions=False)
        except (ServiceError, Patron.DoesNotExist):
            continue  # something under way (or erased meanwhile): next time
        erased += 1
        if erased >= batch:
            break
    return erased


def forget_expired_sessions_and_tasks() -> None:
    """What Django and the task backend keep past its use, deleted daily rather than by a
    cron line someone may forget: expired sessions (each names its user) and finished
    tasks over two weeks old (their arguments)."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    if "django_tasks_db" in settings.TASKS["default"]["BACKEND"]:
        call_command("prune_db_task_results", queue_name="*", verbosity=0)
