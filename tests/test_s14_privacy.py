"""A data protection officer's review before go-live (fourteenth session): each test
states what GDPR/CNIL practice expects of erasure, retention, the my-data export and
the logs."""

import datetime
import logging

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType

from emporter.desk import services as desk
from emporter.holds.models import Request, RequestEvent, patron_pseudonym
from emporter.holds.services import cancel_request, place_request
from emporter.notices.models import Notice
from emporter.patrons import throttle
from emporter.patrons.models import LoanHistory, Patron, SignInFailures
from emporter.privacy.selectors import data_of
from emporter.privacy.services import choose_loan_history, erase_patron, forget_closed
from tests.conftest import make_patron, make_ready_requests, make_record


def borrowed_and_returned(patron, branch, title):
    (request,) = make_ready_requests(patron, branch, [title])
    desk.hand_over(patron=patron, branch=branch)
    loan = desk.check_in(barcode=request.copy.barcode, branch=branch).loan
    loan.refresh_from_db()
    return loan


def staff_user(name="bib"):
    return get_user_model().objects.create_user(username=name, password="x", is_staff=True)


# (1) Erasure -----------------------------------------------------------------------------


def test_erasure_replaces_the_pseudonym_the_audit_log_could_tie_back(patron, branch, caplog):
    """Erased, a patron's requests no longer carry HMAC(their id): the audit log keeps the
    id a year, beside the door's look-ups, and the pseudonym was recomputable from
    it."""
    loan = borrowed_and_returned(patron, branch, "Vivre avec le VIH")
    patron_id = patron.pk
    with caplog.at_level(logging.INFO, logger="emporter.audit"):
        erase_patron(patron_id=patron_id)
    assert f"erased patron {patron_id}" in caplog.text
    forgotten = Request.objects.get(pk=loan.request_id)
    assert forgotten.patron_id is None
    # What a DPO expects: nothing computable from the erased id finds their requests.
    assert forgotten.patron_pseudonym != patron_pseudonym(patron_id)


def test_staff_notes_naming_the_patron_go_with_their_erasure(patron, branch):
    """What staff typed about a request (the phone desk asks a reason to cancel) often
    names the caller: it goes when the patron is erased."""
    request, _ = place_request(
        patron=patron, record_id=make_record("Guérir de l'alcool", copies=[branch]).pk, pickup_branch=branch
    )
    cancel_request(
        request=request,
        actor=staff_user(),
        reason="Mme Camille Martin a appelé, hospitalisée, rappeler au 06 12 34 56 78",
        by_staff=True,
    )
    erase_patron(patron_id=patron.pk)
    notes = list(RequestEvent.objects.filter(request=request).values_list("note", flat=True))
    assert not any("Martin" in note or "06 12" in note for note in notes), notes


def test_a_closed_requests_staff_note_goes_when_it_forgets_its_patron(patron, branch):
    """A closed request that forgets its patron (REQUEST_HISTORY_DAYS) forgets what staff
    wrote about it too."""
    request, _ = place_request(
        patron=patron, record_id=make_record("Divorcer sans avocat", copies=[branch]).pk, pickup_branch=branch
    )
    cancel_request(
        request=request, actor=staff_user(), reason="Mme Martin, au nom de son mari", by_staff=True
    )
    later = request.created_at + datetime.timedelta(days=400)
    forget_closed(now=later)
    request.refresh_from_db()
    assert request.patron_id is None
    assert not RequestEvent.objects.filter(request=request).exclude(note="").exists()


@pytest.mark.postgres
def test_erasure_finds_admin_history_naming_the_card_in_other_capitals(postgres, branch):
    """The admin's lines naming the card are found in any capitals (a sign-in count's "!pin
    b0012 …", on PostgreSQL)."""
    patron = make_patron(branch, card="B0012")
    throttle.pin_try("B0012", "192.0.2.7")
    row = SignInFailures.objects.get(username__startswith="!pin b0012 ")
    LogEntry.objects.create(
        user_id=staff_user().pk,
        content_type=ContentType.objects.get_for_model(SignInFailures),
        object_id=str(row.pk),
        object_repr=str(row),
        action_flag=DELETION,
    )
    row.delete()
    erase_patron(patron_id=patron.pk)
    assert not LogEntry.objects.filter(object_repr__icontains="b0012").exists(), list(
        LogEntry.objects.values_list("object_repr", flat=True)
    )


def test_erasure_finds_admin_history_under_the_card_first_issued(patron, branch):
    """The admin's lines written under the card the patron had before a replacement go too."""
    notice = Notice.objects.create(patron=patron, kind="ready", dedupe_key="k1", sent_to=patron.email)
    LogEntry.objects.create(
        user_id=staff_user().pk,
        content_type=ContentType.objects.get_for_model(Notice),
        object_id=str(notice.pk + 1000),  # a notice deleted since by the retention
        object_repr=f"Prête → {patron} (Envoyé)",
        action_flag=CHANGE,
    )
    Patron.objects.filter(pk=patron.pk).update(card_number="10000099")
    erase_patron(patron_id=patron.pk)
    assert not LogEntry.objects.filter(object_repr__contains="Martin").exists(), list(
        LogEntry.objects.values_list("object_repr", flat=True)
    )


def test_a_former_guardians_address_goes_from_the_error_of_a_childs_notice(branch):
    """Erasing a former guardian clears their address from a child's notice, and from the
    mail server's answer it quotes."""
    guardian = make_patron(
        branch, card="20000001", first_name="Paul", last_name="Durand", email="paul.durand@example.org"
    )
    child = make_patron(branch, card="30000001", first_name="Léo", email="", guardian=guardian)
    Notice.objects.create(
        patron=child,
        kind="ready",
        dedupe_key="k-child",
        state="failed",
        sent_to=guardian.email,
        error_code="address_refused",
        last_error="550 5.1.1 <paul.durand@example.org>: Recipient address rejected",
    )
    Patron.objects.filter(pk=child.pk).update(guardian=None)  # now in another's care
    erase_patron(patron_id=guardian.pk)
    notice = Notice.objects.get(dedupe_key="k-child")
    assert notice.sent_to == ""
    assert "paul.durand" not in notice.last_error


def test_the_users_admin_does_not_delete_a_cards_account(client, branch):
    """Django's user admin deleted a card's account, and its patron by cascade, past the
    erasure's refusals (a child left with no adult) and its forgetting."""
    guardian = make_patron(branch, card="10000042", first_name="Paul", last_name="Durand")
    child = make_patron(branch, card="30000042", first_name="Léo", guardian=guardian)
    throttle.pin_try(guardian.card_number, "192.0.2.9")
    admin = get_user_model().objects.create_superuser(username="admin", password="x")
    client.force_login(admin)
    # A line the admin wrote earlier about the patron (an address corrected).
    client.post(f"/admin/patrons/patron/{guardian.pk}/delete/")  # only the page: nothing posted
    LogEntry.objects.create(
        user_id=admin.pk,
        content_type=ContentType.objects.get_for_model(Patron),
        object_id=str(guardian.pk),
        object_repr=str(guardian),
        action_flag=CHANGE,
    )
    # Refused there: a card's account goes with its patron, through the erasure.
    assert client.get(f"/admin/auth/user/{guardian.user_id}/delete/").status_code == 403
    client.post(f"/admin/auth/user/{guardian.user_id}/delete/", {"post": "yes"})
    bulk = {"action": "delete_selected", "_selected_action": [guardian.user_id], "post": "yes"}
    client.post("/admin/auth/user/", bulk)
    assert Patron.objects.filter(pk=guardian.pk).exists()
    child.refresh_from_db()
    assert child.guardian_id == guardian.pk


# (3) The my-data export -------------------------------------------------------------------


def test_the_export_says_why_the_card_is_blocked(patron):
    """Art. 15: what staff wrote on the card is personal data, and in the export."""
    Patron.objects.filter(pk=patron.pk).update(blocked_reason="Comportement agressif envers le personnel")
    patron.refresh_from_db()
    assert "Comportement agressif" in str(data_of(patron))


def test_the_export_gives_the_reasons_staff_gave_for_their_requests(patron, branch):
    """Art. 15: what staff wrote about the patron's requests is in the export."""
    request, _ = place_request(
        patron=patron, record_id=make_record("Titre", copies=[branch]).pk, pickup_branch=branch
    )
    cancel_request(
        request=request, actor=staff_user(), reason="Demandé trop souvent sans venir", by_staff=True
    )
    assert "trop souvent" in str(data_of(patron))


def test_a_childs_export_does_not_hand_out_the_guardians_address(branch):
    """Art. 15(4): a child's export says a notice went to their guardian's address without
    giving it (a former guardian's too)."""
    guardian = make_patron(
        branch, card="20000001", first_name="Paul", last_name="Durand", email="paul.durand@example.org"
    )
    child = make_patron(
        branch, card="30000001", first_name="Léo", email="", guardian=guardian, category="child"
    )
    Notice.objects.create(
        patron=child, kind="ready", dedupe_key="k-child", state="sent", sent_to=guardian.email
    )
    Patron.objects.filter(pk=child.pk).update(guardian=None)
    child.refresh_from_db()
    assert "paul.durand@example.org" not in str(data_of(child))


# (4) Logs ---------------------------------------------------------------------------------


def test_the_general_log_does_not_write_patrons_email_addresses(smtp, branch, caplog):
    """The general log (kept as the machine keeps its logs) does not get patrons' addresses
    from the mail server's answers."""
    from emporter.notices import compose, outbox

    patron = make_patron(branch, card="30009999", email="josé.martin@example.org")
    place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    with caplog.at_level(logging.INFO):
        compose.compose_all(soon)
        outbox.send_due(soon)
    lines = [r.getMessage() for r in caplog.records if r.name != "emporter.audit"]
    assert not [line for line in lines if "josé.martin" in line], lines


def test_a_receipts_key_does_not_name_its_loans(patron, branch):
    """A receipt's key is keyed with the site's secret: a plain hash of a few loan ids was
    found again by trying numbers."""
    import hashlib
    import itertools

    from emporter.desk.models import Loan
    from emporter.notices.receipts import queue_receipt
    from emporter.notices.retention import unlink_forgotten_requests

    choose_loan_history(patron=patron, choice=LoanHistory.FORGET)
    requests = make_ready_requests(patron, branch, ["Vivre avec le VIH", "Sortir de l'emprise"])
    desk.hand_over(patron=patron, branch=branch)
    loans = list(Loan.objects.filter(patron=patron))
    notice, _ = queue_receipt(patron=patron, loans=loans)
    Notice.objects.filter(pk=notice.pk).update(state="sent")
    for request in requests:
        desk.check_in(barcode=request.copy.barcode, branch=branch)
    assert not Loan.objects.filter(patron=patron).exists()  # forgotten at return
    unlink_forgotten_requests()
    notice.refresh_from_db()
    assert not notice.loans.exists() and notice.patron_id == patron.pk
    digest = notice.dedupe_key.rsplit(":", 1)[1]
    all_ids = list(Loan.objects.values_list("pk", flat=True))
    found = [
        ids
        for n in (1, 2, 3)
        for ids in itertools.combinations(sorted(all_ids), n)
        if hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest() == digest
    ]
    titles = [Loan.objects.get(pk=pk).copy.record.title for ids in found for pk in ids]
    assert titles == [], f"receipt of {notice.patron} gives back {titles}"


def test_a_notices_key_no_longer_points_at_a_request_forgotten_at_return(patron, branch):
    """A notice whose request forgot its borrower loses the event id its key held, not only
    its links."""
    from emporter.notices import compose
    from emporter.notices.retention import unlink_forgotten_requests

    choose_loan_history(patron=patron, choice=LoanHistory.FORGET)
    (request,) = make_ready_requests(patron, branch, ["Vivre avec le VIH"])
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    compose.compose_all(soon)
    Notice.objects.update(state="sent")
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=request.copy.barcode, branch=branch)
    request.refresh_from_db()
    assert request.patron_id is None  # forgotten at return
    unlink_forgotten_requests()
    for notice in Notice.objects.filter(patron=patron):
        assert not notice.events.exists()
        assert notice.dedupe_key == f"forgotten:{notice.pk}"  # no event id left in it


def test_erasure_deletes_the_patrons_sessions(client, patron, branch):
    """Erasure deletes the patron's sessions (their basket in them) at once."""
    from django.contrib.sessions.models import Session

    record = make_record("Vivre avec le VIH", copies=[branch])
    client.force_login(patron.user)
    client.post(f"/basket/add/{record.pk}/")
    user_id = patron.user_id
    erase_patron(patron_id=patron.pk)
    left = [
        s.get_decoded()
        for s in Session.objects.all()
        if str(s.get_decoded().get("_auth_user_id")) == str(user_id)
    ]
    assert left == []
