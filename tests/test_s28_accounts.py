"""An app signs in with a card number typed as printed, in groups, as the web form does
(it was told the card or PIN was wrong, and the try counted as a wrong PIN)."""

from tests.conftest import make_patron

V1 = "/api/v1"


def test_the_api_signs_in_a_card_typed_in_groups_as_the_web_form_does(client, branch):
    make_patron(branch, card="10000001", pin="1234")
    web = client.post("/en/account/login/", {"card_number": "1000 0001", "pin": "1234"})
    assert web.status_code == 302 and web["Location"] == "/en/account/"

    api = client.post(
        f"{V1}/auth/token", {"card_number": " 1000 0001 ", "pin": "1234"}, content_type="application/json"
    )

    assert api.status_code == 201, api.json()
    assert api.json()["scope"] == "patron"
