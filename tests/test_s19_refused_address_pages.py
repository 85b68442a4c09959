"""An address the mail server refused as unknown (notices.outbox marks it on the patron)
is said as such where the patron, the phone desk and the door meet it: before, the pages
said "No email address" to a patron who had one, and the door offered to email a
receipt that would fail at once."""

from django.contrib.auth import get_user_model

from emporter.desk.models import Loan
from emporter.patrons.models import Patron, Role, StaffRole
from tests.conftest import make_patron, make_ready_requests, make_record
from tests.test_door_pages import door, hand_over, scan, url  # noqa: F401

REFUSED = "Email address refused by the mail server:"


def refused(patron):
    Patron.objects.filter(pk=patron.pk).update(email_refused=patron.email.upper())  # any capitals
    patron.refresh_from_db()
    return patron


def test_the_account_and_the_basket_say_the_address_was_refused(client, branch):
    patron = refused(make_patron(branch, card="17100001", email="parti@example.org"))
    client.force_login(patron.user)
    client.post(f"/en/basket/add/{make_record(title='Un', copies=[branch]).pk}/")
    for page in ("/en/account/", "/en/basket/"):
        text = client.get(page).content.decode()
        assert REFUSED in text and "parti@example.org was refused as unknown" in text, page
        assert "No email address" not in text
    # Corrected, the warning goes.
    Patron.objects.filter(pk=patron.pk).update(email="revenu@example.org")
    assert REFUSED not in client.get("/en/account/").content.decode()


def test_the_phone_desk_says_the_callers_address_was_refused(client, branch):
    patron = refused(make_patron(branch, card="17100002", email="parti@example.org"))
    user = get_user_model().objects.create_user(username="tel", password="x")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=branch)
    client.force_login(user)
    text = client.get(f"/en/staff/phone/patrons/{patron.pk}/").content.decode()
    assert REFUSED in text and "Check it with them and correct it on their card" in text


def test_the_door_does_not_offer_to_email_a_receipt_to_a_refused_address(door, branch):  # noqa: F811
    patron = refused(make_patron(branch, card="17100003", email="parti@example.org"))
    make_ready_requests(patron, branch, ["Un"])
    receipt = hand_over(door, branch, scan(door, branch, patron.card_number))
    assert receipt.status_code == 200 and "Email it to" not in receipt.text
    loan = Loan.objects.get()
    response = door.post(
        url("desk:email_receipt", branch.pk, patron.pk), {"loans": str(loan.pk)}, follow=True
    )
    assert "The mail server refused parti@example.org as unknown" in response.text


def test_staff_find_every_refused_address_and_write_to_them_again_at_once(admin_client, branch):
    """After a relay's mistake (every address of a morning refused), not one by one."""
    marked = [refused(make_patron(branch, card=f"1720000{n}", email=f"l{n}@example.org")) for n in range(3)]
    make_patron(branch, card="17200009", email="autre@example.org")
    url = "/admin/patrons/patron/"
    page = admin_client.get(url, {"email_refused": "yes"}).content.decode()
    assert all(p.card_number in page for p in marked) and "17200009" not in page
    ids = [str(p.pk) for p in marked]
    admin_client.post(url, {"action": "write_again", "_selected_action": ids})
    assert not Patron.objects.exclude(email_refused="").exists()
