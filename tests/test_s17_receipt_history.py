"""A receipt shown again is of loans still out (seventeenth session's security review):
its URL carries loan ids, and a list of every id reopened a household's returned loans,
the reading history a patron keeps for their own account page, to any door librarian."""

import datetime
import logging

from django.utils import timezone

from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.notices.models import Notice
from tests.conftest import make_patron, make_ready_requests
from tests.test_door_pages import url
from tests.test_door_ux2 import door  # noqa: F401 (fixture)


def _returned_long_ago(patron, branch, title):
    make_ready_requests(patron, branch, [title])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    desk.check_in(barcode=loan.copy.barcode, branch=branch)
    now = timezone.now()
    Loan.objects.filter(pk=loan.pk).update(
        checked_out_at=now - datetime.timedelta(days=90), returned_at=now - datetime.timedelta(days=60)
    )
    return loan


def test_a_receipt_does_not_reopen_returned_loans(door, branch, caplog):  # noqa: F811
    patron = make_patron(branch, loan_history="keep")
    old = _returned_long_ago(patron, branch, "Guide des maladies honteuses")
    make_ready_requests(patron, branch, ["Emporté"])
    (current,) = desk.hand_over(patron=patron, branch=branch).loans
    # Every id around the returned loan's, as a URL listing the household's ids would.
    ids = ",".join(str(n) for n in [current.pk, *range(max(1, old.pk - 50), old.pk + 49)])
    with caplog.at_level(logging.INFO, logger="emporter.audit"):
        page = door.get(url("desk:receipt", branch.pk, patron.pk), {"loans": ids})
    assert "Emporté" in page.text
    assert "Guide des maladies honteuses" not in page.text
    assert old.pk < current.pk
    # Who looked, as the door's look-ups are.
    assert any(f"patron {patron.pk}'s receipt" in r.getMessage() for r in caplog.records)


def test_an_emailed_receipt_does_not_send_returned_loans(door, branch):  # noqa: F811
    patron = make_patron(branch, loan_history="keep")
    old = _returned_long_ago(patron, branch, "Guide des maladies honteuses")
    door.post(url("desk:email_receipt", branch.pk, patron.pk), {"loans": str(old.pk)})
    assert not Notice.objects.filter(kind="receipt").exists()
