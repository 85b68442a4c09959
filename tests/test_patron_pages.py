import re

import pytest
from django.utils import timezone

from emporter.holds.models import Channel, Request, Status
from emporter.holds.services import place_request
from emporter.patrons import throttle
from emporter.patrons.models import Patron, SignInFailures
from tests.conftest import make_patron, make_record, pause_over


def sign_in(client, card="10000001", pin="1234"):
    return client.post("/account/login/", {"card_number": card, "pin": pin})


def test_patron_signs_in_with_card_and_pin(client, patron):
    response = sign_in(client)
    assert response.status_code == 302 and response["Location"] == "/account/"
    assert "Camille" in client.get("/account/").content.decode()


def test_wrong_pin_is_refused_in_french(client, patron):
    response = sign_in(client, pin="0000")
    assert "Numéro de carte ou code PIN incorrect." in response.content.decode()


def test_repeated_failures_lock_the_card_even_for_the_right_pin(client, patron):
    for _ in range(throttle.PIN_MAX_FAILURES):
        sign_in(client, pin="0000")
        pause_over()  # the pauses between wrong PINs waited out
    assert throttle.pin_try(patron.card_number, "127.0.0.1").refused == "login_locked"
    response = sign_in(client)
    assert response.status_code == 200
    assert "verrouillée" in response.content.decode()


def test_after_three_failures_each_try_must_wait(client, patron):
    for _ in range(throttle.PIN_SLOW_AFTER):
        sign_in(client, pin="0000")
    response = sign_in(client)  # the right PIN, but too soon
    assert response.status_code == 200
    assert "patienter 30 secondes" in response.content.decode()
    SignInFailures.objects.update(locked_until=timezone.now())  # the pause is over
    assert sign_in(client).status_code == 302
    assert not SignInFailures.objects.filter(username__startswith="!pin").exists()  # counts start again


def test_pin_change_needs_the_current_pin(client, patron):
    sign_in(client)
    response = client.post("/account/pin/", {"old_pin": "9999", "new_pin": "4812", "confirm_pin": "4812"})
    assert "actuel est incorrect" in response.content.decode()
    client.post("/account/pin/", {"old_pin": "1234", "new_pin": "4812", "confirm_pin": "4812"})
    client.post("/account/logout/")
    assert sign_in(client, pin="4812").status_code == 302


def test_guessing_the_current_pin_at_the_pin_change_locks_the_card(client, patron):
    """A session left open on a library computer must not let someone try every PIN."""
    sign_in(client)
    for n in range(5):
        client.post("/account/pin/", {"old_pin": f"99{n:02d}", "new_pin": "4812", "confirm_pin": "4812"})
        pause_over()
    response = client.post("/account/pin/", {"old_pin": "1234", "new_pin": "4812", "confirm_pin": "4812"})
    assert "verrouillée jusqu’à" in response.content.decode()
    client.post("/account/logout/")
    assert sign_in(client, pin="1234").status_code == 200  # locked at the sign-in too


def test_basket_confirm_places_requests_and_a_double_submit_places_nothing_more(client, patron, branch):
    records = [make_record(title=f"Livre {n}", copies=[branch]) for n in range(3)]
    sign_in(client)
    for record in records:
        client.post(f"/basket/add/{record.pk}/")
    page = client.get("/basket/").content.decode()
    key = re.search(r'name="confirm_key" value="(\w+)"', page).group(1)
    form = {"confirm_key": key, "pickup_branch": branch.pk, "record": [r.pk for r in records]}
    client.post("/basket/confirm/", form)
    client.post("/basket/confirm/", form)
    assert Request.objects.filter(patron=patron, status=Status.PLACED).count() == 3
    assert set(Request.objects.values_list("channel", flat=True)) == {Channel.ONLINE}
    account = client.get("/account/").content.decode()
    assert all(f"Livre {n}" in account for n in range(3))


def test_refused_item_is_explained_and_the_rest_goes_through(client, patron, branch):
    from emporter.holds.models import RequestPolicy

    RequestPolicy.objects.create(allow_waiting_list=False)
    good = make_record(title="Disponible", copies=[branch])
    gone = make_record(title="Emprunté", copies=[(branch, "on_loan")])
    sign_in(client)
    response = client.post(
        "/basket/confirm/", {"pickup_branch": branch.pk, "record": [good.pk, gone.pk]}, follow=True
    )
    page = response.content.decode()
    assert "Emprunté — Aucun exemplaire de ce document n’est en rayon pour le moment." in page
    assert Request.objects.get(patron=patron).record == good


def test_a_patron_cannot_see_or_cancel_another_patrons_request(client, patron, branch):
    other = make_patron(branch, card="10000002", first_name="Zoé")
    theirs, _ = place_request(
        patron=other, record_id=make_record(title="Secret", copies=[branch]).pk, pickup_branch=branch
    )
    sign_in(client)
    assert "Secret" not in client.get("/account/").content.decode()
    assert client.post(f"/basket/requests/{theirs.pk}/cancel/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.PLACED


def test_a_guardian_sees_and_may_cancel_the_requests_of_a_child_in_their_care(client, patron, branch):
    child = make_patron(branch, card="10000003", first_name="Célestin", email="", guardian=patron)
    stranger = make_patron(branch, card="10000004", first_name="Zoé")
    theirs, _ = place_request(
        patron=child, record_id=make_record(title="Le Petit Prince", copies=[branch]).pk, pickup_branch=branch
    )
    sign_in(client)
    page = client.get("/account/").content.decode()
    assert "Célestin" in page and "Le Petit Prince" in page
    assert client.post(f"/basket/requests/{theirs.pk}/cancel/").status_code == 302
    theirs.refresh_from_db()
    assert theirs.status == Status.CANCELLED
    # Someone else's child stays private.
    client.logout()
    sign_in(client, card=stranger.card_number)
    assert "Célestin" not in client.get("/account/").content.decode()


def test_a_signed_in_user_who_is_no_patron_cancels_nothing(client, patron, branch):
    """Staff have no patron record: "their" requests must not become everyone's."""
    from django.contrib.auth import get_user_model

    hold, _ = place_request(
        patron=patron, record_id=make_record(title="Le mien", copies=[branch]).pk, pickup_branch=branch
    )
    client.force_login(get_user_model().objects.create_user(username="cueilleur", password="x"))
    assert client.post(f"/basket/requests/{hold.pk}/cancel/").status_code == 404
    hold.refresh_from_db()
    assert hold.status == Status.PLACED


def test_patron_cancels_their_own_request(client, patron, branch):
    mine, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    sign_in(client)
    client.post(f"/basket/requests/{mine.pk}/cancel/")
    mine.refresh_from_db()
    assert mine.status == Status.CANCELLED
    assert mine.events.last().actor == patron.user


def test_confirm_needs_a_signed_in_patron(client, branch):
    response = client.post("/basket/confirm/", {"pickup_branch": branch.pk})
    assert response.status_code == 302 and "/account/login/" in response["Location"]


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_only_click_and_collect_branches_are_offered_for_pickup(client, patron, branch, other_branch, mode):
    other_branch.service_mode = mode
    other_branch.save()
    record = make_record(copies=[branch])
    sign_in(client)
    client.post(f"/basket/add/{record.pk}/")
    page = client.get("/basket/").content.decode()
    assert "Part-Dieu" in page and "Croix-Rousse" not in page
    assert Patron.objects.count() == 1


def test_staff_give_a_new_pin_that_also_lifts_the_lock(client, patron):
    from django.contrib.auth import get_user_model

    for _ in range(throttle.PIN_MAX_FAILURES):
        sign_in(client, pin="0000")
        pause_over()  # the pauses between wrong PINs waited out
    admin = get_user_model().objects.create_superuser(username="root", password="x")
    client.force_login(admin)
    response = client.post(
        "/admin/patrons/patron/", {"action": "reset_pin", "_selected_action": [patron.pk]}, follow=True
    )
    pin = re.search(r"10000001[^0-9]+(\d{4})", response.content.decode()).group(1)
    client.logout()
    assert sign_in(client, pin=pin).status_code == 302


def test_the_account_names_the_bag_a_ready_document_waits_in(client, patron, branch):
    from tests.conftest import make_ready_requests

    (ready,) = make_ready_requests(patron, branch, ["Prêt"])
    sign_in(client)
    assert f"dans le sac {ready.bag.label}" in client.get("/account/").content.decode()
