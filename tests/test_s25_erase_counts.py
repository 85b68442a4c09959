"""Erasing a patron forgets the sign-in counts naming their card, those of a staff
sign-in too (twenty-fifth session): the card typed at the staff page or the API's name
and password was counted as a name, with the address, and the erasure left it."""

from emporter.patrons.models import SignInFailures
from emporter.privacy.services import erase_patron


def test_erasure_leaves_no_sign_in_count_naming_the_card(client, patron):
    card = patron.card_number
    client.post("/staff/login/", {"username": card, "password": "1234"})
    client.post("/api/v1/auth/token", {"username": card, "password": "1234"}, content_type="application/json")
    client.post("/api/v1/auth/token", {"card_number": card, "pin": "0000"}, content_type="application/json")
    assert SignInFailures.objects.filter(username__contains=card.lower()).count() >= 2
    erase_patron(patron_id=patron.pk)
    assert (
        list(
            SignInFailures.objects.filter(username__contains=card.lower()).values_list("username", flat=True)
        )
        == []
    )
