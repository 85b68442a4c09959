"""The returns desk and the van's reception as a librarian scanning 2,000 documents a day
meets them (review "returns" of the eighteenth session): a barcode typed in other capitals
or in its printed groups is found, a return elsewhere scanned twice is said done, and a
patron's return scanned at Receive says to check it in at Returns."""

from emporter.catalogue.models import CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.patrons.models import Role
from tests.conftest import make_patron, make_ready_requests
from tests.test_s15_double_submits import en, staff_client


def shown(response):
    """The scan result on the screen."""
    return response.text[response.text.find("scan-result") :][:400]


def lent(branch, card="40000001", title="Rendu"):
    borrower = make_patron(branch, card=card)
    (request,) = make_ready_requests(borrower, branch, [title])
    desk.hand_over(patron=borrower, branch=branch)
    request.copy.refresh_from_db()
    assert request.copy.status == CopyStatus.ON_LOAN
    return request.copy


def test_a_barcode_typed_in_lower_case_is_checked_in(client, branch):
    copy = lent(branch)
    staff_client(client, Role.DOOR_DESK, branch, "accueil")

    response = client.post(en("desk:returns", branch.pk), {"barcode": copy.barcode.lower()})

    assert "Returned: back on the shelf." in response.text, shown(response)
    assert not Loan.objects.filter(copy=copy, returned_at__isnull=True).exists()


def test_a_barcode_typed_with_spaces_inside_is_checked_in(client, branch):
    copy = lent(branch)
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    spaced = f"{copy.barcode[:4]} {copy.barcode[4:]}"

    response = client.post(en("desk:returns", branch.pk), {"barcode": spaced})

    assert "Returned: back on the shelf." in response.text, shown(response)


def test_a_return_elsewhere_scanned_twice_is_said_already_checked_in(client, branch, other_branch):
    """Returned at another library than its own: the scanner's double (or a reload) must
    not say its request was cancelled or not collected: there was no request, only a loan."""
    copy = lent(branch)
    staff_client(client, Role.DOOR_DESK, other_branch, "accueil")
    url = en("desk:returns", other_branch.pk)
    first = client.post(url, {"barcode": copy.barcode})
    assert f"Returned. Send it back to {branch.name}." in first.text

    second = client.post(url, {"barcode": copy.barcode})

    assert "cancelled or not collected" not in second.text, shown(second)
    assert "Already checked in" in second.text


def test_a_copy_lent_by_the_library_system_scanned_twice_is_not_an_error(client, branch):
    """The scanner's double on a copy lent at a desk of the library system (no loan of
    ours): the second answer says it was checked in, as for our own loans."""
    from tests.conftest import make_record

    record = make_record(title="Prêt du SIGB", copies=[(branch, CopyStatus.ON_LOAN)])
    copy = record.copies.get()
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    url = en("desk:returns", branch.pk)
    first = client.post(url, {"barcode": copy.barcode})
    assert "Returned: back on the shelf." in first.text

    second = client.post(url, {"barcode": copy.barcode})

    assert second.status_code == 200, shown(second)
    assert "Already checked in at" in second.text


def test_a_return_scanned_at_receive_says_to_check_it_in_at_returns(client, branch):
    """A patron's return put in the van crate and scanned at Receive: the loan stays open;
    the screen must say where to scan it, not only that it is not expected."""
    copy = lent(branch)
    staff_client(client, Role.PICKER, branch, "rayon")

    response = client.post(en("picking:receive", branch.pk), {"barcode": copy.barcode})

    text = shown(response)
    assert "Returns" in text, text
