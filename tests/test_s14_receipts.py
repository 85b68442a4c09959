"""A loans receipt emailed from the door goes through the outbox: the door's request
sends nothing (a mail server down held a web worker up to EMAIL_TIMEOUT while the
patron waited, and the receipt was lost), the worker sends it and tries again, the same
loans make one email however often the button is pressed, and receipts go before a
morning's backlog."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from emporter.desk.models import Loan
from emporter.notices import outbox, render, retention
from emporter.notices.models import Kind, Notice, NoticeLoan, State
from emporter.patrons.models import Role
from tests.conftest import make_branch, make_patron, make_ready_requests
from tests.smtp import free_port
from tests.test_door_pages import hand_over, scan, staff, url


@pytest.fixture
def door(client, branch):
    client.force_login(staff(Role.DOOR_DESK, branch))
    return client


@pytest.fixture
def locmem(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def lend(door, branch, patron, titles):
    """``titles`` lent to ``patron``, who (and whose guardian) reads English."""
    for reader in (patron, patron.guardian):
        if reader is not None:
            reader.language = "en"
            reader.save(update_fields=["language"])
    make_ready_requests(patron, branch, titles)
    hand_over(door, branch, scan(door, branch, patron.card_number))
    return list(Loan.objects.filter(patron=patron).order_by("pk"))


def email_receipt(door, branch, patron, loans):
    ids = ",".join(str(loan.pk) for loan in loans)
    return door.post(url("desk:email_receipt", branch.pk, patron.pk), {"loans": ids}, follow=True)


def test_the_door_queues_the_receipt_and_the_worker_sends_it(door, branch, patron, locmem):
    loans = lend(door, branch, patron, ["Un", "Deux"])
    page = email_receipt(door, branch, patron, loans)
    assert f"The receipt will be emailed to {patron.email} within a minute." in page.text
    assert mail.outbox == []
    (notice,) = Notice.objects.filter(kind=Kind.RECEIPT)
    assert notice.patron == patron and notice.state == State.PENDING
    assert set(notice.loans.all()) == set(loans)

    assert outbox.send_due() == 1
    (message,) = mail.outbox
    assert message.to == [patron.email]
    assert message.subject == f"Your loans at {branch.name}"
    due = loans[0].due_date
    assert f"- Un — due {due:%A} {due.day} {due:%B %Y}" in message.body
    assert "Deux" in message.body and "Enjoy your reading!" in message.body
    notice.refresh_from_db()
    assert notice.state == State.SENT and notice.sent_to == patron.email


def test_a_mail_server_down_neither_holds_the_door_nor_loses_the_receipt(door, branch, patron, settings):
    loans = lend(door, branch, patron, ["Emporté"])
    settings.MAILERS = {  # nothing listens on that port
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
        }
    }
    page = email_receipt(door, branch, patron, loans)
    assert page.status_code == 200 and "will be emailed" in page.text
    outbox.send_due()
    notice = Notice.objects.get(kind=Kind.RECEIPT)
    assert notice.state == State.PENDING and notice.error_code == "retrying"  # tried again later


def test_pressing_the_button_twice_sends_one_email(door, branch, patron, locmem):
    loans = lend(door, branch, patron, ["Un"])
    email_receipt(door, branch, patron, loans)
    again = email_receipt(door, branch, patron, loans)
    assert f"This receipt is already on its way to {patron.email}." in again.text
    outbox.send_due()
    after_sending = email_receipt(door, branch, patron, loans)
    assert f"This receipt was already emailed to {patron.email}." in after_sending.text
    outbox.send_due()
    assert len(mail.outbox) == 1 and Notice.objects.filter(kind=Kind.RECEIPT).count() == 1


def test_a_childs_receipt_goes_to_the_guardian_naming_the_child(door, branch, locmem):
    parent = make_patron(branch, card="40000001", first_name="Sam", email="sam@example.org")
    child = make_patron(
        branch, card="40000002", category="child", guardian=parent, first_name="Léo", email=""
    )
    loans = lend(door, branch, child, ["Album"])
    page = door.get(url("desk:receipt", branch.pk, child.pk), {"loans": str(loans[0].pk)})
    assert "Email it to sam@example.org" in page.text
    email_receipt(door, branch, child, loans)
    outbox.send_due()
    (message,) = mail.outbox
    assert message.to == ["sam@example.org"]
    assert "Hello Sam," in message.body and "- Album (Léo) — due" in message.body


def test_nobody_to_write_to_is_said_and_nothing_is_queued(door, branch, locmem):
    patron = make_patron(branch, card="40000003", email="")
    loans = lend(door, branch, patron, ["Un"])
    page = email_receipt(door, branch, patron, loans)
    assert "This patron has no email address." in page.text
    assert not Notice.objects.filter(kind=Kind.RECEIPT).exists()


def test_a_receipt_goes_before_older_notices(door, branch, patron, locmem):
    other = make_patron(branch, card="40000004", email="autre@example.org")
    earlier = Notice.objects.create(patron=other, kind=Kind.NOT_FOUND, dedupe_key="older")
    Notice.objects.filter(pk=earlier.pk).update(created_at=timezone.now() - datetime.timedelta(hours=1))
    email_receipt(door, branch, patron, lend(door, branch, patron, ["Un"]))
    outbox.send_due(limit=1)
    (message,) = mail.outbox
    assert message.to == [patron.email] and "Un" in message.body


def test_a_sent_receipt_forgets_the_loans_once_anonymised(door, branch, patron, locmem):
    loans = lend(door, branch, patron, ["Un"])
    email_receipt(door, branch, patron, loans)
    outbox.send_due()
    Loan.objects.filter(pk=loans[0].pk).update(patron=None)  # returned and anonymised
    assert retention.unlink_forgotten_requests() == 1
    assert not NoticeLoan.objects.exists() and Notice.objects.filter(kind=Kind.RECEIPT).exists()


def test_a_pending_receipt_keeps_its_loans_until_sent(door, branch, patron, locmem):
    loans = lend(door, branch, patron, ["Un"])
    email_receipt(door, branch, patron, loans)
    Loan.objects.filter(pk=loans[0].pk).update(patron=None)
    assert retention.unlink_forgotten_requests() == 0
    outbox.send_due()
    assert "Un" in mail.outbox[0].body


def test_the_shipped_receipt_wording_passes_the_staff_wording_check():
    source = render.shipped_source(Kind.RECEIPT)
    assert render.wording_error(source, kind=Kind.RECEIPT, language="fr") == ""
    context = render.sample_context(Kind.RECEIPT)
    assert [line["borrower"] for line in context["loans"]] == ["", "Léo"]


def test_the_manager_of_the_branch_that_lent_sees_its_receipts(door, branch, other_branch, locmem):
    from emporter.notices.selectors import visible_notices

    patron = make_patron(other_branch, card="40000005")  # registered elsewhere
    email_receipt(door, branch, patron, lend(door, branch, patron, ["Un"]))
    receipt = Notice.objects.get(kind=Kind.RECEIPT)
    here = staff(Role.BRANCH_MANAGER, branch, username="here")
    there = staff(Role.BRANCH_MANAGER, other_branch, username="there")
    assert receipt in visible_notices(here)
    assert receipt in visible_notices(there)  # their patron's
    elsewhere = staff(Role.BRANCH_MANAGER, make_branch(code="VAI", name="Vaise"), username="elsewhere")
    assert receipt not in visible_notices(elsewhere)


def test_a_failed_receipt_goes_again_once_the_address_is_corrected(door, branch, patron, locmem):
    loans = lend(door, branch, patron, ["Un"])
    email_receipt(door, branch, patron, loans)
    Notice.objects.filter(kind=Kind.RECEIPT).update(state=State.FAILED, error_code="address_refused")
    patron.email = "corrected@example.org"
    patron.save(update_fields=["email"])
    page = email_receipt(door, branch, patron, loans)
    assert "The receipt will be emailed to corrected@example.org within a minute." in page.text
    outbox.send_due()
    assert [m.to for m in mail.outbox] == [["corrected@example.org"]]


def test_a_receipt_whose_loans_were_forgotten_is_not_sent_empty(door, branch, patron, locmem):
    loans = lend(door, branch, patron, ["Un"])
    email_receipt(door, branch, patron, loans)
    notice = Notice.objects.get(kind=Kind.RECEIPT)
    Notice.objects.filter(pk=notice.pk).update(state=State.FAILED, error_code="address_refused")
    Loan.objects.filter(pk=loans[0].pk).update(patron=None, anonymised=True)
    assert retention.unlink_forgotten_requests() == 1
    assert outbox.resend(notice=notice)  # staff, from the outbox
    outbox.send_due()
    notice.refresh_from_db()
    assert mail.outbox == [] and (notice.state, notice.error_code) == (State.SKIPPED, "outdated")


def test_the_same_loans_from_the_childs_page_and_the_guardians_make_one_email(door, branch, locmem):
    parent = make_patron(branch, card="40000011", first_name="Sam", email="sam@example.org")
    child = make_patron(
        branch, card="40000012", category="child", guardian=parent, first_name="Léo", email=""
    )
    loans = lend(door, branch, child, ["Album"])
    email_receipt(door, branch, child, loans)
    again = email_receipt(door, branch, parent, loans)
    assert "This receipt is already on its way to sam@example.org." in again.text
    outbox.send_due()
    assert len(mail.outbox) == 1
