"""What a walkthrough as patrons found: a document already requested says so wherever it
shows, the basket warns before the limit, a document on its way says it is, a library's
own page names it, and counts are worded in the singular when there is one."""

import html

import pytest
from django.urls import reverse
from django.utils import translation

from emporter.catalogue.models import Copy, CopyStatus
from emporter.discovery.services import create_surprise_request
from emporter.errors import ServiceError
from emporter.holds.models import Request, RequestPolicy, Status
from emporter.holds.services import place_request
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record

PIN_URL = "/account/pin/"


def text(response) -> str:
    return html.unescape(response.content.decode()).replace("\u00a0", " ")


def sign_in(client, card="10000001", pin="1234"):
    assert client.post("/account/login/", {"card_number": card, "pin": pin}).status_code == 302


def test_the_record_page_says_the_patron_has_requested_it(client, patron, branch):
    record = make_record(copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    page = text(client.get(f"/catalogue/record/{record.pk}/"))
    assert "Ajouter à mon panier" in page  # signed out: nobody's in particular

    sign_in(client)
    page = text(client.get(f"/catalogue/record/{record.pk}/"))
    assert "Vous avez réservé ce document (Enregistrée)" in page
    assert "Ajouter à mon panier" not in page


def test_the_basket_says_what_is_already_requested_and_takes_it_out(client, patron, branch):
    mine = make_record(title="Déjà à moi", copies=[branch])
    new = make_record(title="Nouveau", copies=[branch])
    place_request(patron=patron, record_id=mine.pk, pickup_branch=branch)
    sign_in(client)
    for record in (mine, new):
        client.post(f"/basket/add/{record.pk}/")

    page = text(client.get("/basket/"))
    assert "Vous avez déjà réservé « Déjà à moi » : il a été retiré de votre panier." in page
    assert f'name="record" value="{mine.pk}"' not in page
    assert f'name="record" value="{new.pk}"' in page
    assert client.session["basket"] == [new.pk]
    # Said once.
    assert "Déjà à moi" not in text(client.get("/basket/"))


def test_confirming_drops_what_was_already_requested_from_the_basket(client, patron, branch):
    record = make_record(copies=[branch, branch])
    sign_in(client)
    client.post(f"/basket/add/{record.pk}/")
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)  # from another tab

    response = client.post(
        "/basket/confirm/", {"record": [record.pk], "pickup_branch": branch.pk}, follow=True
    )

    assert "Vous avez déjà réservé ce document." in text(response)
    assert client.session["basket"] == []
    assert Request.objects.filter(patron=patron).count() == 1


@pytest.mark.parametrize("active, expected", [(6, "Vous pouvez encore réserver 2 documents"), (8, "maximum")])
def test_the_basket_warns_before_the_limit(client, patron, branch, active, expected):
    RequestPolicy.objects.create(max_active=8)
    for n in range(active):
        place_request(
            patron=patron, record_id=make_record(title=f"Pris {n}", copies=[branch]).pk, pickup_branch=branch
        )
    sign_in(client)
    for n in range(3):
        client.post(f"/basket/add/{make_record(title=f'Voulu {n}', copies=[branch]).pk}/")
    page = text(client.get("/basket/"))
    assert expected in page


def test_the_basket_does_not_warn_within_the_limit(client, patron, branch):
    sign_in(client)
    client.post(f"/basket/add/{make_record(copies=[branch]).pk}/")
    page = text(client.get("/basket/"))
    assert "Vous pouvez encore réserver" not in page and "maximum" not in page


def test_a_document_found_at_another_library_is_said_on_its_way(client, patron, branch, other_branch):
    record = make_record(copies=[other_branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    # A late list: the morning one stops at the pick time, and this test may run after it.
    picking.mark_found(line=picking.build_run(branch=other_branch, kind="late").lines.get())
    assert Copy.objects.get(record=record).status == CopyStatus.IN_TRANSIT
    request.refresh_from_db()
    assert request.status == Status.PLACED

    sign_in(client)
    assert f"Trouvé : en route vers {branch.name}" in text(client.get("/account/"))


def test_a_surprise_over_the_allowance_is_worded_in_the_singular(patron, branch):
    RequestPolicy.objects.create(max_active=1)
    with pytest.raises(ServiceError) as refused:
        create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=2)
    assert "1 document de plus" in refused.value.message.replace("\u00a0", " ")
    assert "documents" not in refused.value.message


def test_other_patrons_requests_do_not_show_as_mine(client, patron, branch):
    record = make_record(copies=[branch, branch])
    other = make_patron(branch, card="10000002")
    place_request(patron=other, record_id=record.pk, pickup_branch=branch)
    sign_in(client)
    assert "Ajouter à mon panier" in text(client.get(f"/catalogue/record/{record.pk}/"))


def test_a_card_number_typed_in_groups_signs_in(client, patron):
    response = client.post("/account/login/", {"card_number": " 1000 0001 ", "pin": "1234"})
    assert response.status_code == 302


def test_the_pin_form_says_what_a_pin_is_and_refuses_the_same_one(client, patron):
    sign_in(client)
    page = text(client.post(PIN_URL, {"old_pin": "1234", "new_pin": "12", "confirm_pin": "12"}))
    assert "Un code PIN compte de 4 à 8 chiffres." in page
    assert "caractères" not in page
    # The field points at its error (aria-describedby), and the error is there to point at.
    assert 'aria-describedby="id_new_pin_helptext id_new_pin_error"' in page
    assert 'id="id_new_pin_error"' in page
    page = text(client.post(PIN_URL, {"old_pin": "1234", "new_pin": "1234", "confirm_pin": "1234"}))
    assert "Le nouveau code PIN est le même que l’actuel." in page
    assert 'autocomplete="current-password"' in page
    response = client.post(PIN_URL, {"old_pin": "1234", "new_pin": "4812", "confirm_pin": "4812"})
    assert response.status_code == 302


def test_a_library_closed_since_the_basket_was_shown_is_said_and_the_basket_kept(client, patron, branch):
    record = make_record(copies=[branch])
    sign_in(client)
    client.post(f"/basket/add/{record.pk}/")
    branch.service_mode = "closed"
    branch.save(update_fields=["service_mode"])

    response = client.post(
        "/basket/confirm/", {"record": [record.pk], "pickup_branch": branch.pk}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/basket/"
    assert "ne prend pas de réservations en ce moment : choisissez-en une autre" in text(response)
    assert client.session["basket"] == [record.pk]
    assert not Request.objects.exists()


def test_a_waiting_request_shows_its_place_in_the_queue(client, patron, branch, other_branch):
    other_branch.service_mode = "click_collect"
    other_branch.save(update_fields=["service_mode"])
    record = make_record(title="Très demandé", copies=[(branch, "on_loan")])
    first = make_patron(branch, card="10000002")
    place_request(patron=first, record_id=record.pk, pickup_branch=other_branch)
    mine, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert mine.status == Status.WAITING
    sign_in(client)
    page = text(client.get("/account/"))
    assert "Rang dans la file d’attente : 2" in page
    # Its title leads to its record page.
    assert f'href="/catalogue/record/{record.pk}/"' in page
    # One waiting at a library now closed is passed over meanwhile: not ahead.
    other_branch.service_mode = "closed"
    other_branch.save(update_fields=["service_mode"])
    assert "Rang dans la file d’attente : 1" in text(client.get("/account/"))


def test_the_record_pages_author_leads_to_their_other_documents(client, branch):
    record = make_record(copies=[branch], responsibility="Marguerite Durand")
    page = client.get(f"/catalogue/record/{record.pk}/").content.decode()
    # By the surname (search.author_query): the given name is not spelt alike on every record.
    assert 'href="/catalogue/?field=author&amp;q=Durand"' in page


@pytest.mark.parametrize("pin", ["0000", "1111", "4321", "123456", "9876", "1212"])
def test_a_pin_anyone_would_try_first_is_refused(client, patron, pin):
    from emporter.errors import ServiceError
    from emporter.patrons.services import change_pin

    sign_in(client)
    with translation.override("en"):
        url = reverse("patrons:change_pin")
    page = client.post(url, {"old_pin": "1234", "new_pin": pin, "confirm_pin": pin}).content.decode()
    assert "among the first anyone would try" in page
    with pytest.raises(ServiceError) as refused:
        change_pin(patron=patron, old_pin="1234", new_pin=pin)
    assert refused.value.code == "pin_too_easy"


def test_a_pin_reset_is_never_one_anyone_would_try_first(patron, monkeypatch):
    from emporter.patrons import services

    draws = iter([1234, 0, 4812])
    monkeypatch.setattr(services.secrets, "randbelow", lambda _n: next(draws))
    assert services.reset_pin(patron=patron) == "4812"


def test_the_basket_says_a_title_to_consult_on_site_cannot_be_requested(client, patron, branch):
    from tests.conftest import make_department, make_location

    reference = make_location(make_department(branch), code="ref", requestable=False)
    record = make_record(title="Atlas", copies=[branch])
    record.copies.update(location=reference)
    sign_in(client)
    client.post(f"/basket/add/{record.pk}/")
    with translation.override("en"):
        page = text(client.get(reverse("holds:basket")))
    assert "To consult on site only: no copy is lent. It cannot be requested." in page
    assert "Every copy is out" not in page  # the copy is on its shelf, for reading there
    assert f'name="record" value="{record.pk}"' not in page  # not sent with the others
    with translation.override("en"):
        results = text(client.get(reverse("catalogue:search"), {"q": "Atlas"}))
    assert "Atlas" in results and "Add to my basket" not in results
