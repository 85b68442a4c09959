"""Found by an adversarial review of the eleventh session's changes: a document still in
an expired bag kept from erasure and forgetting; every path that sets a copy aside for a
request within its patron's type limits; the waiting sweep not starved by requests it
passes over; an erasure racing a placement, or refused in the admin; the admin history
of what named the patron; discovery judging by the copies' types; and the query that
finds requests to forget at scale."""

import datetime
import json
import threading

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.desk.selectors import back_to_shelves
from emporter.discovery.selectors import available_records, tiles
from emporter.discovery.services import cancel_surprise_request, create_surprise_request
from emporter.errors import ServiceError
from emporter.holds.models import ACTIVE, Request, RequestPolicy, Status
from emporter.holds.services import (
    cancel_request,
    expire_overdue,
    place_request,
    retarget_or_close,
    serve_waiting,
)
from emporter.patrons.models import Patron
from emporter.picking import services as picking
from emporter.privacy import services as privacy
from emporter.privacy.services import erase_patron, forget_closed, requests_to_forget, why_not_erasable
from tests.conftest import (
    backend_pid,
    make_branch,
    make_patron,
    make_ready_requests,
    make_record,
    unchecked_foreign_keys,
    wait_until_blocked,
)

# A document still in an expired bag ------------------------------------------------------


def expired_bag(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Le Horla"])
    expire_overdue(today=request.hold_until + datetime.timedelta(days=1))
    request.refresh_from_db()
    assert (request.status, request.copy.status) == (Status.EXPIRED, CopyStatus.HOLD_SHELF)
    return request


def test_a_patron_whose_document_is_still_in_their_bag_is_not_erased_yet(patron, branch):
    expired_bag(patron, branch)
    with pytest.raises(ServiceError) as refused:
        erase_patron(patron_id=patron.pk)
    assert refused.value.code == "erase_documents_in_bag"


def test_forgetting_keeps_the_bag_a_document_is_still_in_and_its_label_taken(patron, branch):
    request = expired_bag(patron, branch)
    forget_closed(now=timezone.now() + datetime.timedelta(days=31))
    (event,) = [e for e in back_to_shelves(branch=branch) if e.copy_id == request.copy_id]
    assert event.request.bag is not None and event.request.bag.label == request.bag.label
    other = make_patron(branch, card="10000002", last_name="Moreau")  # same initial
    (ready,) = make_ready_requests(other, branch, ["Bel-Ami"])
    assert ready.bag.label != request.bag.label


# Type limits on every path that sets a copy aside ------------------------------------------


def test_a_not_found_copy_is_not_replaced_by_one_of_a_type_at_its_limit(patron, branch, other_branch):
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    place_request(
        patron=patron,
        record_id=make_record("Shoah", doc_type="dvd", copies=[branch]).pk,
        pickup_branch=branch,
    )
    # A title whose copy here is a book, and whose copy at the other library is a DVD.
    record = make_record("Nuit et brouillard", doc_type="book", copies=[branch])
    Copy.objects.filter(pk=make_record("x", doc_type="dvd", copies=[other_branch]).copies.get().pk).update(
        record=record
    )
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert request.doc_type == "book"
    retarget_or_close(request=request)  # the picker did not find the book
    assert Request.objects.filter(patron=patron, status__in=ACTIVE, doc_type="dvd").count() == 1


def test_requests_passed_over_for_their_type_limit_do_not_starve_the_queue(patron, branch):
    rules = RequestPolicy.objects.create(type_limits={"dvd": 2})
    # Two patrons wait for a DVD, then set another DVD aside; the library lowers the DVD
    # limit to 1: each waiting request is passed over, keeping its place.
    for n, who in enumerate([patron, make_patron(branch, card="10000002")]):
        title = make_record(f"Film {n}", doc_type="dvd", copies=[(branch, CopyStatus.ON_LOAN)])
        place_request(patron=who, record_id=title.pk, pickup_branch=branch)
        other = make_record(f"Autre {n}", doc_type="dvd", copies=[branch])
        place_request(patron=who, record_id=other.pk, pickup_branch=branch)
    rules.type_limits = {"dvd": 1}
    rules.save()
    reader = make_patron(branch, card="10000003")
    book = make_record("Roman", copies=[(branch, CopyStatus.ON_LOAN)])
    waiting, _ = place_request(patron=reader, record_id=book.pk, pickup_branch=branch)
    Copy.objects.filter(status=CopyStatus.ON_LOAN).update(status=CopyStatus.ON_SHELF)  # an import
    serve_waiting(limit=2)  # a batch of 2 standing for 500
    waiting.refresh_from_db()
    assert waiting.status == Status.PLACED


# Erasure: racing a placement, refused in the admin, the admin's history -------------------


@pytest.mark.django_db(transaction=True)
def test_a_placement_racing_an_erasure_is_refused_in_words(postgres):
    branch = make_branch()
    patron = make_patron(branch)
    record = make_record(copies=[branch])
    pid, go, result = [], threading.Event(), {}

    def eraser():
        try:
            with transaction.atomic():
                Patron.objects.select_for_update().get(pk=patron.pk)  # as erase_patron's first step
                go.set()
                wait_until_blocked(pid)
                erase_patron(patron_id=patron.pk)
        finally:
            connection.close()

    def placer():
        try:
            go.wait(10)
            pid.append(backend_pid())
            place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
        except Exception as error:  # noqa: BLE001 (what it raised is the point)
            result["error"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=eraser), threading.Thread(target=placer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert getattr(result.get("error"), "code", None) == "patron_gone", repr(result.get("error"))


def test_a_refused_erasure_is_neither_logged_nor_announced_as_done(client, patron, branch, monkeypatch):
    client.force_login(get_user_model().objects.create_superuser(username="admin", password="x"))
    real, calls = privacy.why_not_erasable, []

    def checked_then_placed(p):
        calls.append(p.pk)
        answer = real(p)
        if len(calls) == 1:  # the page's check passes; then a request is placed meanwhile
            place_request(patron=p, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
        return answer

    monkeypatch.setattr(privacy, "why_not_erasable", checked_then_placed)
    url = reverse("admin:patrons_patron_delete", args=[patron.pk])
    response = client.post(url, {"post": "yes"}, follow=True)
    assert Patron.objects.filter(pk=patron.pk).exists()  # refused, rightly
    said = [str(m) for m in response.context["messages"]]
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()
    assert not any("supprimé" in m for m in said) and any("réservations en cours" in m for m in said)


def test_an_erased_patron_is_named_nowhere_in_the_admin_history(patron, branch):
    staff = get_user_model().objects.create_user(username="bib", password="x", is_staff=True)
    surprise = create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=2)
    # What ModelAdmin.log_change writes when a librarian saves the bag in the admin.
    LogEntry.objects.log_actions(
        user_id=staff.pk, queryset=[surprise], action_flag=CHANGE, change_message="[]"
    )
    cancel_surprise_request(surprise=surprise)
    erase_patron(patron_id=patron.pk)
    assert not LogEntry.objects.filter(object_repr__contains=patron.card_number).exists()


# Discovery judges by the copies' types, as placement does --------------------------------


def test_a_record_lent_as_a_book_is_shown_available_where_only_books_are_requested(patron, branch):
    RequestPolicy.objects.create(requestable_types=["book"])
    record = make_record("Le Petit Prince", doc_type="dvd", copies=[branch])
    Copy.objects.filter(record=record).update(doc_type="book")
    (tile,) = tiles([record], branch=branch)
    assert tile.available and available_records(branch=branch).filter(pk=record.pk).exists()
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert request.status == Status.PLACED  # and placement lends it as a book
    # The reverse: a record typed book whose only copy is a DVD is not shown available.
    dvd = make_record("Film", doc_type="book", copies=[branch])
    Copy.objects.filter(record=dvd).update(doc_type="dvd")
    (tile,) = tiles([dvd], branch=branch)
    assert not tile.available and not available_records(branch=branch).filter(pk=dvd.pk).exists()


# The requests to forget, at scale ----------------------------------------------------------


def rows_read(plan) -> int:
    read = 0
    if plan.get("Relation Name") == "holds_request":
        read += plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
    if plan.get("Node Type") == "Bitmap Index Scan":
        read += plan.get("Actual Rows", 0)
    return read + sum(rows_read(child) for child in plan.get("Plans", []))


def test_the_requests_to_forget_are_found_without_reading_the_kept_history(postgres, patron, branch):
    # Four months of collected requests whose loans keep their borrower: none to forget.
    record = make_record(copies=[branch])
    with connection.cursor() as cursor, unchecked_foreign_keys(cursor):
        cursor.execute(
            """INSERT INTO holds_request (patron_id, record_id, pickup_branch_id, status, channel, doc_type,
                   created_at, closed_at, patron_pseudonym, idempotency_fingerprint)
               SELECT %s, %s, %s, 'collected', 'online', 'book',
                      now() - interval '120 days' + g * interval '100 seconds',
                      now() - interval '119 days' + g * interval '100 seconds', 'p', ''
               FROM generate_series(1, 50000) g""",
            [patron.pk, record.pk, branch.pk],
        )
        cursor.execute("ANALYZE holds_request")
    cutoff = timezone.now() - datetime.timedelta(days=30)
    plan = json.loads(
        requests_to_forget(cutoff).values_list("pk", flat=True)[:500].explain(format="json", analyze=True)
    )
    assert rows_read(plan[0]["Plan"]) < 1000


def test_another_pickup_library_takes_no_copy_of_a_type_at_its_limit(patron, branch, other_branch):
    from emporter.holds.services import change_pickup

    RequestPolicy.objects.create(type_limits={"dvd": 1})
    RequestPolicy.objects.create(branch=other_branch, allow_other_branches=False)  # its own copies only
    place_request(
        patron=patron,
        record_id=make_record("Shoah", doc_type="dvd", copies=[branch]).pk,
        pickup_branch=branch,
    )
    record = make_record("Nuit et brouillard", copies=[branch])
    Copy.objects.filter(pk=make_record("x", doc_type="dvd", copies=[other_branch]).copies.get().pk).update(
        record=record
    )
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    with pytest.raises(ServiceError) as refused:
        change_pickup(request=request, branch=other_branch)  # only a DVD there: past the limit
    assert refused.value.code == "pickup_no_copy"
    assert Request.objects.filter(patron=patron, status__in=ACTIVE, doc_type="dvd").count() == 1


# From an upgrade from the last release, with years of history ------------------------------


def test_an_old_request_whose_copy_was_scanned_out_and_lent_again_is_not_in_a_bag(patron, branch):
    elsewhere = make_branch(code="CRX", name="Croix-Rousse")
    other = make_patron(branch, card="10000002")
    record = make_record("Un titre", copies=[branch])
    # 1. patron's bag ready, cancelled; the copy is scanned out of the bag at returns
    first, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    first.refresh_from_db()
    assert first.status == Status.READY
    cancel_request(request=first, actor=patron.user)
    desk.receive_home(barcode=first.copy.barcode, branch=branch)
    first.copy.refresh_from_db()
    assert first.copy.status == CopyStatus.ON_SHELF
    # 2. another patron borrows it and returns it at another library: in transit home
    second, _ = place_request(patron=other, record_id=record.pk, pickup_branch=branch)
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    desk.hand_over(patron=other, branch=branch)
    desk.check_in(barcode=first.copy.barcode, branch=elsewhere)
    first.copy.refresh_from_db()
    assert first.copy.status == CopyStatus.IN_TRANSIT
    # The first patron has nothing in any bag: their erasure should be possible ...
    assert why_not_erasable(patron) == ""
    # ... and their cancelled request forgotten after the history days
    forget_closed(now=timezone.now() + datetime.timedelta(days=31))
    first.refresh_from_db()
    assert first.patron_id is None


def test_a_request_lent_after_its_bag_expired_is_forgotten_with_its_loan_not_before(patron, branch):
    from emporter.desk.models import LoanPolicy

    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    request = expired_bag(patron, branch)
    desk.lend_expired(patron=patron, branch=branch, request_ids=[request.pk])
    forget_closed(now=timezone.now() + datetime.timedelta(days=31))
    request.refresh_from_db()
    assert request.patron_id == patron.pk  # its loan is out: it names its borrower


def test_months_of_loans_due_at_once_are_forgotten_a_batch_a_call(patron, branch):
    from emporter.desk.models import Loan

    for title in ("Un", "Deux", "Trois"):
        (ready,) = make_ready_requests(patron, branch, [title])
        desk.hand_over(patron=patron, branch=branch)
    Loan.objects.update(
        returned_at=timezone.now() - datetime.timedelta(days=200)
    )  # kept, then rules shortened
    assert desk.anonymise_returned(limit=2) == 2 and desk.anonymise_returned(limit=2) == 1
    assert not Loan.objects.filter(patron__isnull=False).exists()


# From a second adversarial review ---------------------------------------------------------


@pytest.fixture
def network_admin(client, db):
    client.force_login(get_user_model().objects.create_superuser(username="admin", password="x"))
    return client


def test_an_edited_loans_admin_history_goes_when_the_loan_forgets_its_borrower(network_admin, patron, branch):
    from django.contrib.admin.models import LogEntry

    (request,) = make_ready_requests(patron, branch, ["Vivre avec le VIH"])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    form = {
        "copy": loan.copy_id,
        "patron": patron.pk,
        "request": request.pk,
        "branch": branch.pk,
        "checked_out_by": "",
        "due_date": (loan.due_date + datetime.timedelta(days=7)).isoformat(),
        "renewals": 0,
        "returned_branch": "",
    }
    assert network_admin.post(reverse("admin:desk_loan_change", args=[loan.pk]), form).status_code == 302
    assert LogEntry.objects.filter(object_id=str(loan.pk)).exists()
    desk.check_in(barcode=request.copy.barcode, branch=branch)  # forgotten at return (default rules)
    assert not LogEntry.objects.filter(object_id=str(loan.pk)).exists()


def test_an_edited_notices_admin_line_goes_with_the_notice_and_the_erasure(network_admin, patron, branch):
    from django.contrib.admin.models import LogEntry

    from emporter.notices.models import Notice
    from emporter.notices.retention import forget_old_notices

    notice = Notice.objects.create(
        patron=patron, kind="ready", dedupe_key="r-1", state="failed", sent_to=patron.email
    )
    form = {
        "patron": patron.pk,
        "kind": "ready",
        "channel": notice.channel,
        "bag": "",
        "note": "adresse corrigée",
    }
    assert (
        network_admin.post(reverse("admin:notices_notice_change", args=[notice.pk]), form).status_code == 302
    )
    # A line the notice's deletion would not reach (written before this release's rule).
    LogEntry.objects.filter(object_id=str(notice.pk)).update(object_id="999999")
    forget_old_notices(now=timezone.now() + datetime.timedelta(days=40))
    erase_patron(patron_id=patron.pk)
    assert not LogEntry.objects.filter(object_repr__contains=patron.card_number).exists()


def test_the_bulk_erasure_page_lists_one_line_per_patron(network_admin, patron, branch):
    import re

    other = make_patron(branch, card="30000009", first_name="Léo", last_name="Moreau")
    url = reverse("admin:patrons_patron_changelist")
    page = network_admin.post(
        url, {"action": "delete_selected", "_selected_action": [patron.pk, other.pk]}
    ).text
    items = re.findall(r"<li>(.*?)</li>", page.split("Effacer ces abonnés")[1].split("</ul>")[0], re.S)
    assert len(items) == 2 and items[0].startswith("Camille Martin"), items


def test_the_notice_and_the_account_say_a_type_kept_longer_than_the_default(client, patron, branch):
    from emporter.desk.models import LoanPolicy

    LoanPolicy.objects.create(doc_type="dvd", anonymise_after_days=120)
    assert "DVD\u00a0: 120 jours après son retour." in client.get("/privacy/").text
    client.force_login(patron.user)
    assert "DVD\u00a0: 120 jours après son retour." in client.get("/account/").text


def test_a_copy_scanned_out_of_its_bag_is_out_of_it_whatever_happens_next(patron, branch):
    elsewhere = make_branch(code="CRX", name="Croix-Rousse")
    (request,) = make_ready_requests(patron, branch, ["Le Horla"])
    cancel_request(request=request, actor=patron.user)
    desk.receive_home(barcode=request.copy.barcode, branch=branch)  # scanned out of the bag
    Copy.objects.filter(pk=request.copy_id).update(status=CopyStatus.ON_LOAN)  # lent at the ILS desk (import)
    desk.check_in(barcode=request.copy.barcode, branch=elsewhere)  # returned elsewhere: in transit home
    assert Copy.objects.get(pk=request.copy_id).status == CopyStatus.IN_TRANSIT
    assert why_not_erasable(patron) == ""


def test_a_former_guardians_data_holds_no_longer_the_childs_surprise_bag(client, patron, branch):
    child = make_patron(branch, card="20000002", first_name="Léo", guardian=patron)
    bag = create_surprise_request(
        asked_by=patron, patron=child, pickup_branch=branch, how_many=2, tastes="dinosaures"
    )
    client.force_login(patron.user)
    assert client.get("/privacy/my-data.json").json()["surprise_bags"][0]["tastes"] == "dinosaures"
    Patron.objects.filter(pk=child.pk).update(
        guardian=make_patron(branch, card="30000003", first_name="Anne")
    )
    cancel_surprise_request(surprise=bag)
    assert client.get("/privacy/my-data.json").json()["surprise_bags"] == []


@pytest.mark.django_db(transaction=True)
def test_forget_chosen_during_a_check_in_forgets_that_loan_too(postgres):
    from django.test import Client

    from emporter.desk.models import Loan, LoanPolicy

    branch = make_branch()
    patron = make_patron(branch)
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    (request,) = make_ready_requests(patron, branch, ["Vivre avec le VIH"])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    done, errors = threading.Event(), []

    def choose_forget():
        try:
            client = Client()
            client.force_login(Patron.objects.get(pk=patron.pk).user)
            assert client.post("/account/loan-history/", {"loan_history": "forget"}).status_code == 302
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            done.set()
            connection.close()

    thread = threading.Thread(target=choose_forget)
    with transaction.atomic():
        desk.check_in(barcode=request.copy.barcode, branch=branch)
        thread.start()
        done.wait(3)  # the choice commits while the return is not yet in
    thread.join(10)
    assert errors == [] and Patron.objects.get(pk=patron.pk).loan_history == "forget"
    assert Loan.objects.get(pk=loan.pk).patron_id is None
