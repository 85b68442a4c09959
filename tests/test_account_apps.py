"""A patron sees the apps signed in with their card (API tokens) on their account page and
can sign one out, or every one: a phone lost, an app no longer trusted."""

from django.contrib.auth import get_user_model

from emporter.api.models import ApiToken, Scope
from emporter.api.tokens import check_token, issue_token


def sign_in(client, patron):
    client.post("/account/login/", {"card_number": patron.card_number, "pin": "1234"})


def test_the_account_lists_the_apps_and_signs_one_out(client, patron, branch):
    _row, kept = issue_token(user=patron.user, scope=Scope.PATRON)
    lost_row, lost = issue_token(user=patron.user, scope=Scope.PATRON)
    sign_in(client, patron)
    page = client.get("/account/").content.decode()
    assert page.count('name="token"') == 2
    client.post("/account/apps/sign-out/", {"token": lost_row.pk})
    assert check_token(lost) is None and check_token(kept) is not None


def test_every_app_at_once_and_only_ones_own(client, patron, branch):
    other = get_user_model().objects.create_user("autre", password="x")
    _row, theirs = issue_token(user=other, scope=Scope.STAFF)
    for _ in range(2):
        issue_token(user=patron.user, scope=Scope.PATRON)
    sign_in(client, patron)
    not_mine = ApiToken.objects.get(user=other)
    client.post("/account/apps/sign-out/", {"token": not_mine.pk})  # not theirs to end
    assert check_token(theirs) is not None
    client.post("/account/apps/sign-out/", {"token": "garbled"})  # neither one nor all: nothing
    assert ApiToken.objects.filter(user=patron.user).count() == 2
    client.post("/account/apps/sign-out/", {"all": "1"})
    assert not ApiToken.objects.filter(user=patron.user).exists()
    assert client.get("/account/").context["apps"] == []
