"""Sprint 18 privacy review: what still named a forgotten or erased patron, and patron
look-ups the audit log missed (docs/architecture.md, "Privacy")."""

import datetime
import logging

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from emporter.api.models import ApiToken, Scope
from emporter.api.tokens import issue_token
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.holds.models import Request, RequestEvent, Status
from emporter.holds.services import cancel_request, place_request
from emporter.notices import outbox
from emporter.notices.models import Kind, Notice
from emporter.patrons.models import LoanHistory, Role, StaffRole
from emporter.picking import services as picking
from emporter.privacy.services import erase_patron, forget_closed
from tests.conftest import make_patron, make_ready_requests, make_record
from tests.test_privacy import LATER

SECOND = datetime.timedelta(seconds=1)


def superuser():
    return get_user_model().objects.create_superuser(username="chef", password="x")


# -- A child's request placed by their guardian ---------------------------------------


@pytest.fixture
def family(branch):
    guardian = make_patron(branch, card="20000001", first_name="Paul", last_name="Durand")
    child = make_patron(branch, card="20000002", first_name="Léo", last_name="Durand", guardian=guardian)
    return guardian, child


def placed_by_guardian(family, branch, title="Vivre avec le VIH"):
    guardian, child = family
    request, _ = place_request(
        patron=child,
        record_id=make_record(title, copies=[branch]).pk,
        pickup_branch=branch,
        actor=guardian.user,
        theirs=True,
    )
    return request


def names_the_guardian(request, guardian) -> bool:
    request = Request.objects.get(pk=request.pk)
    return request.placed_by_id == guardian.user_id or request.events.filter(actor=guardian.user).exists()


def test_a_childs_returned_loan_forgets_the_guardian_who_placed_it(family, branch):
    guardian, _ = family
    request = placed_by_guardian(family, branch)
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    desk.hand_over(patron=guardian, branch=branch)
    request.refresh_from_db()
    desk.check_in(barcode=request.copy.barcode, branch=branch)  # forgotten at return
    assert Request.objects.get(pk=request.pk).patron_id is None
    assert not names_the_guardian(request, guardian)


def test_a_childs_cancelled_request_forgets_the_guardian_not_the_librarian(family, branch, client):
    guardian, _ = family
    librarian = superuser()
    StaffRole.objects.create(user=librarian, role=Role.BRANCH_MANAGER, branch=branch)
    request = placed_by_guardian(family, branch)
    cancel_request(request=request, actor=librarian, reason="", by_staff=True)
    forget_closed(now=timezone.now() + LATER)
    assert Request.objects.get(pk=request.pk).patron_id is None
    assert not names_the_guardian(request, guardian)
    # Who did what at the library stays: a staff account is no patron's.
    assert RequestEvent.objects.filter(request=request, actor=librarian).exists()
    client.force_login(librarian)
    page = client.get(reverse("admin:holds_request_change", args=[request.pk])).text
    assert "Vivre avec le VIH" in page and "20000001" not in page  # the guardian's card


def test_an_erased_childs_requests_do_not_name_the_guardian(family, branch):
    guardian, child = family
    request = placed_by_guardian(family, branch)
    cancel_request(request=request, actor=guardian.user)
    erase_patron(patron_id=child.pk)  # the child, grown up, asks to be erased
    assert Request.objects.get(pk=request.pk).patron_id is None
    assert not names_the_guardian(request, guardian)


# -- An app's token in the admin's history ----------------------------------------------


def test_a_revoked_apps_history_line_does_not_name_the_card(client, branch):
    patron = make_patron(branch, card="77712345", first_name="Zéphyrine", last_name="Quenouille")
    issue_token(user=patron.user, scope=Scope.PATRON)
    token = ApiToken.objects.get(user=patron.user)
    client.force_login(superuser())
    # A lost phone: the library revokes its app in the admin.
    answer = client.post(reverse("admin:api_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert answer.status_code == 302 and not ApiToken.objects.exists()
    (line,) = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(ApiToken))
    assert token.prefix in line.object_repr and "77712345" not in line.object_repr


def test_an_erasure_removes_an_older_history_line_naming_the_card_on_a_token(client, branch):
    patron = make_patron(branch, card="77712345", first_name="Zéphyrine", last_name="Quenouille")
    # As the admin wrote a revoked token's line before tokens stopped naming their user.
    LogEntry.objects.create(
        user=superuser(),
        content_type=ContentType.objects.get_for_model(ApiToken),
        object_id="9",
        object_repr="abcd1234… (77712345, patron)",
        action_flag=DELETION,
    )
    erase_patron(patron_id=patron.pk)
    assert not LogEntry.objects.filter(object_repr__contains="77712345").exists()


# -- Patron look-ups where their reading shows --------------------------------------------


def audit_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "emporter.audit"]


@pytest.fixture
def quenouille(branch):
    patron = make_patron(branch, card="77712345", first_name="Zéphyrine", last_name="Quenouille")
    place_request(
        patron=patron, record_id=make_record("Vivre avec le VIH", copies=[branch]).pk, pickup_branch=branch
    )
    return patron


@pytest.mark.parametrize("model", ["holds_request", "desk_loan", "notices_notice"])
def test_the_admins_search_by_a_patrons_name_is_audited(client, quenouille, model, caplog):
    chef = superuser()
    client.force_login(chef)
    with caplog.at_level(logging.INFO, logger="emporter.audit"):
        page = client.get(reverse(f"admin:{model}_changelist"), {"q": "Quenouille"})
    assert page.status_code == 200
    if model == "holds_request":
        assert "Vivre avec le VIH" in page.text  # what she reads, found by her name
    assert any(f"admin: {chef.pk} searched patrons 'Quenouille'" in line for line in audit_lines(caplog))


def test_the_outbox_search_by_a_patrons_name_is_audited(client, branch, quenouille, caplog):
    manager = get_user_model().objects.create_user(username="gerante", password="x")
    StaffRole.objects.create(user=manager, role=Role.BRANCH_MANAGER, branch=branch)
    Notice.objects.create(
        patron=quenouille, kind="ready", dedupe_key="k", state="sent", sent_to="zeph@example.org"
    )
    client.force_login(manager)
    with caplog.at_level(logging.INFO, logger="emporter.audit"):
        page = client.get(reverse("notices:outbox"), {"q": "Quenouille"})
    assert "zeph@example.org" in page.text and "77712345" in page.text
    assert f"outbox: {manager.pk} searched patrons 'Quenouille'" in audit_lines(caplog)


# -- A forgotten loan's hand-over instant -------------------------------------------------


def test_a_forgotten_loan_is_not_tied_back_by_its_hand_over_instant(client, patron, branch):
    sensitive, other = make_ready_requests(patron, branch, ["Vivre avec le VIH", "Le Petit Prince"])
    # Ready yesterday: the closing goes back to the hour, not to the moment it was ready.
    Request.objects.filter(pk=sensitive.pk).update(ready_at=timezone.now() - datetime.timedelta(days=1))
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=sensitive.copy.barcode, branch=branch)  # forgotten at its return
    forgotten = Loan.objects.get(request=sensitive)
    assert forgotten.patron_id is None and Request.objects.get(pk=sensitive.pk).patron_id is None
    client.force_login(superuser())
    listing = client.get(reverse("admin:desk_loan_changelist"), {"branch__id__exact": branch.pk}).text
    assert "Camille Martin" in listing and "R VIV" in listing  # both rows, side by side
    at = forgotten.checked_out_at
    same_moment = Loan.objects.filter(patron__isnull=False, checked_out_at__range=(at - SECOND, at + SECOND))
    assert not same_moment.exists()
    assert timezone.localtime(at).time() == datetime.time.min  # its day only
    # Nor by its request's closing, nor by the event of it the admin shows.
    named = Request.objects.get(pk=other.pk).closed_at
    closed = Request.objects.get(pk=sensitive.pk).closed_at
    assert closed == named.replace(minute=0, second=0, microsecond=0)
    collected = RequestEvent.objects.get(request=sensitive, to_status=Status.COLLECTED)
    assert collected.at == closed


def _handed_over(patron, branch, titles, closings):
    """``titles`` handed over to ``patron``, their requests closed and collected at
    ``closings`` ((closed, ready) pairs), kept in the patron's history: their loans."""
    patron.loan_history = LoanHistory.KEEP
    patron.save()
    requests = make_ready_requests(patron, branch, titles)
    desk.hand_over(patron=patron, branch=branch)
    for request, (closed, ready) in zip(requests, closings, strict=True):
        Request.objects.filter(pk=request.pk).update(closed_at=closed, ready_at=ready)
        RequestEvent.objects.filter(request=request, to_status=Status.COLLECTED).update(at=closed)
    return Loan.objects.filter(request__in=requests)


def test_a_batch_of_forgotten_loans_blurs_each_closing_as_one_would(patron, branch):
    """The delayed forgetting blurs a batch's closings in a few statements (it was two a
    request: 1,000 for a batch of 500), each as a request alone was."""
    # Closed after the requests' earlier events (made now): in two days, at 10:50:12.345678.
    day = (timezone.now() + datetime.timedelta(days=2)).astimezone(datetime.UTC)
    ten = day.replace(hour=10, minute=0, second=0, microsecond=0)
    at = ten.replace(minute=50, second=12, microsecond=345678)
    closings = [
        (at, at - datetime.timedelta(days=1)),  # ready yesterday: back to 10:00
        (at, at - datetime.timedelta(minutes=10)),  # ready at 10:40:12: back to then
        (at + datetime.timedelta(minutes=69, seconds=47), None),  # 11:59:59, no ready time: 11:00
    ]
    titles = ["Vivre avec le VIH", "Le Petit Prince", "Sortir du silence"]
    loans = _handed_over(patron, branch, titles, closings)
    ready_events = dict(RequestEvent.objects.filter(to_status=Status.READY).values_list("request_id", "at"))
    with CaptureQueriesContext(connection) as three:
        assert desk.anonymise_loans(loans) == 3
    by_title = {r.record.title: r for r in Request.objects.select_related("record")}
    expected = {
        "Vivre avec le VIH": ten,
        "Le Petit Prince": at - datetime.timedelta(minutes=10),
        "Sortir du silence": ten + datetime.timedelta(hours=1),
    }
    for title, closed in expected.items():
        request = by_title[title]
        assert request.closed_at == closed
        assert RequestEvent.objects.get(request=request, to_status=Status.COLLECTED).at == closed
        ready = RequestEvent.objects.get(request=request, to_status=Status.READY)
        assert ready.at == ready_events[request.pk]  # before the closing: as it was

    other = make_patron(branch, card="10000002")
    six = [f"Titre {n}" for n in range(6)]
    loans = _handed_over(other, branch, six, [(at, None)] * 6)
    with CaptureQueriesContext(connection) as more:
        assert desk.anonymise_loans(loans) == 6
    assert _request_writes(more) == _request_writes(three)


def _request_writes(queries) -> int:
    """How many statements wrote requests or their events."""
    return sum(
        q["sql"].startswith(('UPDATE "holds_request"', 'UPDATE "holds_requestevent"'))
        for q in queries.captured_queries
    )


def test_an_erased_patrons_kept_loans_keep_the_day_they_came_back_only(patron, branch):
    patron.loan_history = LoanHistory.KEEP
    patron.save()
    (request,) = make_ready_requests(patron, branch, ["Le Petit Prince"])
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=request.copy.barcode, branch=branch)
    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    Loan.objects.filter(request=request).update(returned_at=an_hour_ago)  # returned earlier
    erase_patron(patron_id=patron.pk)
    loan = Loan.objects.get(request=request)
    assert loan.patron_id is None
    assert timezone.localtime(loan.returned_at) == timezone.localtime(an_hour_ago).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


# -- The demo's mail sink ------------------------------------------------------------------


def test_an_erased_patrons_emails_leave_the_mail_sink_for_a_network_admin(client, branch, settings, tmp_path):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(tmp_path)},
        }
    }
    patron = make_patron(
        branch, card="77712345", first_name="Zéphyrine", last_name="Quenouille", email="zeph.q@example.org"
    )
    Notice.objects.create(patron=patron, kind=Kind.EXPIRED, dedupe_key="k")
    assert outbox.send_due() == 1
    client.force_login(superuser())
    assert "zeph.q@example.org" in client.get(reverse("notices:mailbox")).text
    erase_patron(patron_id=patron.pk)
    page = client.get(reverse("notices:mailbox")).text
    assert "zeph.q@example.org" not in page and "Zéphyrine" not in page


def test_a_loan_forgotten_at_its_return_keeps_the_moment_a_quarter_of_an_hour_then_the_day(patron, branch):
    """Forgotten at the return itself (the default, or the patron's choice), it kept its
    return to the microsecond for ever: marked forgotten, no later pass looked at it."""
    from emporter.desk import services as desk
    from emporter.desk.models import Loan
    from emporter.patrons.models import LoanHistory

    patron.loan_history = LoanHistory.FORGET
    patron.save()
    (request,) = make_ready_requests(patron, branch, ["Vivre avec le VIH"])
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=request.copy.barcode, branch=branch)
    loan = Loan.objects.get(request=request)
    returned = loan.returned_at
    assert loan.patron_id is None and returned.microsecond  # its moment, for the returns screen

    assert desk.blur_recent_returns(now=returned + datetime.timedelta(minutes=5)) == 0
    assert desk.blur_recent_returns(now=returned + datetime.timedelta(hours=1)) == 1
    loan.refresh_from_db()
    assert loan.returned_at == desk._day_start(returned)
    assert desk.blur_recent_returns(now=returned + datetime.timedelta(hours=2)) == 0  # done once
