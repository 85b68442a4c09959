"""The door screens as the tester used them: a patron found by name, copies that are
missing or in a bag scanned at Returns, the hand-over button and where focus goes
afterwards, and the hold shelf's headings."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.holds.models import Status
from emporter.holds.services import place_request
from emporter.patrons.models import Role
from emporter.picking import services as picking
from emporter.picking.models import LineStatus
from tests.conftest import make_patron, make_ready_requests, make_record
from tests.test_door_pages import hand_over, scan, staff, url


@pytest.fixture
def door(client, branch):
    client.force_login(staff(Role.DOOR_DESK, branch))
    return client


def returns(client, branch, barcode):
    return client.post(url("desk:returns", branch.pk), {"barcode": barcode})


def missing_copy(branch, title="Perdu de vue"):
    """A copy a picker did not find this morning: marked missing (and its request, with
    no other copy, closed as not found)."""
    patron = make_patron(branch, card=f"9{Copy.objects.count():07d}")
    record = make_record(title=title, copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    for line in picking.build_run(branch=branch, kind="late").lines.filter(status=LineStatus.PENDING):
        picking.mark_not_found(line=line)
    copy = record.copies.get()
    assert copy.status == CopyStatus.MISSING
    return copy


# 1. Finding a patron by name ------------------------------------------------------------


def test_a_name_with_one_bag_here_goes_straight_to_it(door, branch):
    moreau = make_patron(branch, card="20000001", first_name="Sacha", last_name="Moreau")
    (request,) = make_ready_requests(moreau, branch, ["Un"])
    response = scan(door, branch, "moreau")
    assert response.status_code == 302
    assert response["Location"] == url("desk:door", branch.pk, query="card=20000001")
    page = door.get(response["Location"])
    assert page.context["door"].patron == moreau
    assert request.bag.label in page.text and 'name="requests"' in page.text


def test_a_shared_name_lists_only_those_with_something_ready_here(door, branch, other_branch):
    sacha = make_patron(branch, card="20000001", first_name="Sacha", last_name="Moreau")
    lou = make_patron(branch, card="20000002", first_name="Lou", last_name="Moreau")
    elsewhere = make_patron(branch, card="20000003", first_name="Eli", last_name="Moreau")
    make_patron(branch, card="20000004", first_name="Noé", last_name="Moreau")  # nothing at all
    make_ready_requests(sacha, branch, ["Un", "Deux"])
    make_ready_requests(lou, branch, ["Trois"])
    make_ready_requests(elsewhere, other_branch, ["Ailleurs"])
    page = scan(door, branch, "Moreau")
    assert page.status_code == 200 and "door" not in page.context
    matches = page.context["matches"]
    assert [(m.patron, m.count) for m in matches] == [(lou, 1), (sacha, 2)]
    assert [m.labels for m in matches] == [[lou.bags.get().label], [sacha.bags.get().label]]
    for patron in (sacha, lou):
        assert f'href="{url("desk:door", branch.pk, query=f"card={patron.card_number}")}"' in page.text
    assert "Eli" not in page.text and "Noé" not in page.text


def test_a_guardian_found_by_name_is_shown_their_childs_bag(door, branch):
    parent = make_patron(branch, card="20000011", first_name="Anne", last_name="Moreau")
    child = make_patron(branch, card="20000012", first_name="Léo", last_name="Petit", guardian=parent)
    make_ready_requests(child, branch, ["Album"])
    response = scan(door, branch, "anne moreau")
    assert response["Location"] == url("desk:door", branch.pk, query="card=20000011")


def test_a_childs_bag_found_under_both_names_says_whose_it_is(door, branch):
    parent = make_patron(branch, card="20000013", first_name="Léa", last_name="Brun")
    child = make_patron(branch, card="20000014", first_name="Gaspard", last_name="Brun", guardian=parent)
    make_ready_requests(child, branch, ["Album", "Conte"])
    page = door.get(url("desk:door", branch.pk, query="card=brun")).content.decode()
    assert page.count("2 documents ready") == 2
    assert page.count("for Gaspard") == 1  # under Léa, the guardian; not under Gaspard
    make_ready_requests(parent, branch, ["Roman"])  # and one of her own
    page = door.get(url("desk:door", branch.pk, query="card=brun")).content.decode()
    assert "3 documents ready · some for Gaspard" in page


def test_a_phone_number_finds_the_patron_too(door, branch):
    patron = make_patron(branch, card="20000021", last_name="Moreau", phone="06 12 34 56 78")
    make_ready_requests(patron, branch, ["Un"])
    response = scan(door, branch, "+33 6 12 34 56 78")
    assert response["Location"] == url("desk:door", branch.pk, query="card=20000021")


def test_the_only_patron_of_that_name_with_nothing_here_is_told_where_it_is(door, branch, other_branch):
    patron = make_patron(branch, card="20000031", first_name="Sacha", last_name="Moreau")
    make_ready_requests(patron, other_branch, ["Ailleurs"])
    response = scan(door, branch, "Moreau")
    assert response["Location"] == url("desk:door", branch.pk, query="card=20000031")
    page = door.get(response["Location"])
    assert "1 document is ready at Croix-Rousse." in page.text


def test_a_name_nobody_has_says_so_and_a_number_is_still_a_card(door, branch):
    make_patron(branch, card="20000041", first_name="Sacha", last_name="Moreau")
    make_patron(branch, card="20000042", first_name="Lou", last_name="Moreau")
    nobody = scan(door, branch, "Moreau")
    assert nobody.status_code == 404
    assert "Nobody named “Moreau” has anything ready here." in nobody.text
    unknown = scan(door, branch, "Dupont")
    assert unknown.status_code == 404 and "Nobody named “Dupont”" in unknown.text
    short = scan(door, branch, "Mo")
    assert short.status_code == 404 and "at least three letters of a name" in short.text
    card = scan(door, branch, "99999999")
    assert card.status_code == 404 and "No patron has the card 99999999" in card.text


def test_the_scan_box_says_a_name_can_be_typed(door, branch):
    page = door.get(url("desk:door", branch.pk))
    assert "Scan the card, or type a name" in page.text


# 2. Copies at Returns that are not on loan -----------------------------------------------


def test_a_missing_copy_says_since_when_and_goes_back_on_the_shelf_in_one_action(door, branch):
    copy = missing_copy(branch)
    page = returns(door, branch, copy.barcode)
    assert page.status_code == 200
    assert "is not on loan" not in page.text
    assert "Marked missing on" in page.text and page.context["missing"].missed_at is not None
    assert f'action="{url("desk:put_back", branch.pk)}"' in page.text
    done = door.post(url("desk:put_back", branch.pk), {"barcode": copy.barcode})
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_SHELF
    assert "Found again: put it back on the shelf." in done.text
    again = door.post(url("desk:put_back", branch.pk), {"barcode": copy.barcode})
    assert again.status_code == 422 and "is not marked missing" in again.text


def test_a_missing_copy_put_back_goes_to_a_waiting_request(door, branch):
    copy = missing_copy(branch)
    waiting, _ = place_request(
        patron=make_patron(branch, card="30000001"), record_id=copy.record_id, pickup_branch=branch
    )
    assert waiting.status == Status.WAITING
    page = door.post(url("desk:put_back", branch.pk), {"barcode": copy.barcode})
    waiting.refresh_from_db()
    assert waiting.status == Status.READY and waiting.copy_id == copy.pk
    assert f"put it in bag {waiting.bag.label}" in page.text


def test_another_librarys_missing_copy_found_here_travels_home(door, branch, other_branch):
    copy = missing_copy(other_branch)
    page = returns(door, branch, copy.barcode)
    assert "Marked missing on" in page.text
    sent = door.post(url("desk:put_back", branch.pk), {"barcode": copy.barcode})
    copy.refresh_from_db()
    assert copy.status == CopyStatus.IN_TRANSIT
    assert "send it back to Croix-Rousse" in sent.text
    # At home it is received like any copy coming back.
    home, served = desk.receive_home(barcode=copy.barcode, branch=other_branch)
    assert home == copy and served is None
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_SHELF


def test_a_copy_waiting_in_a_bag_says_which_bag(door, branch):
    patron = make_patron(branch, card="30000011", first_name="Sacha", last_name="Dumas")
    (request,) = make_ready_requests(patron, branch, ["Dans le sac"])
    page = returns(door, branch, request.copy.barcode)
    assert page.status_code == 200 and "is not on loan" not in page.text
    assert f"Belongs in bag {request.bag.label} (Sacha D.)" in page.text
    # Read out too: a librarian who cannot see the screen learns there is nothing to do.
    assert "<p data-announce>Ready for its patron: nothing to check in.</p>" in page.text
    request.refresh_from_db()
    assert request.status == Status.READY  # only told, nothing changed


def test_a_copy_in_a_bag_at_another_library_says_where(door, branch, other_branch):
    patron = make_patron(branch, card="30000021", first_name="Sacha", last_name="Dumas")
    (request,) = make_ready_requests(patron, other_branch, ["Dans le sac"])
    page = returns(door, branch, request.copy.barcode)
    assert f"Belongs in bag {request.bag.label} (Sacha D.) at Croix-Rousse" in page.text


def test_a_copy_on_the_shelf_is_still_not_on_loan(door, branch):
    record = make_record(title="Sur l'étagère", copies=[branch])
    page = returns(door, branch, record.copies.get().barcode)
    assert page.status_code == 422 and "is not on loan" in page.text
    assert not Loan.objects.exists()


def test_put_back_refuses_what_is_not_missing_and_needs_door_staff(client, door, branch, other_branch):
    record = make_record(title="Sur l'étagère", copies=[branch])
    barcode = record.copies.get().barcode
    refused = door.post(url("desk:put_back", branch.pk), {"barcode": barcode})
    assert refused.status_code == 422 and "is not marked missing" in refused.text
    unknown = door.post(url("desk:put_back", branch.pk), {"barcode": "NOPE"})
    assert unknown.status_code == 422 and "No copy has the barcode NOPE" in unknown.text
    assert door.get(url("desk:put_back", branch.pk)).status_code == 405
    client.force_login(staff(Role.PICKER, branch, username="picker"))
    assert client.post(url("desk:put_back", branch.pk), {"barcode": barcode}).status_code == 403


# 3. The hand-over button, the message, and focus afterwards -----------------------------


def test_the_button_carries_its_label_for_every_count_of_ticked_documents(door, branch, patron):
    make_ready_requests(patron, branch, ["Un", "Deux", "Trois"])
    page = scan(door, branch, patron.card_number)
    (button,) = re.findall(r"<button[^>]*data-count-labels[^>]*>", page.text)
    labels = dict(re.findall(r'data-label-(\d+)="([^"]*)"', button))
    assert labels == {
        "0": "Tick the documents to hand over",
        "1": "Hand over 1 document",
        "2": "Hand over 2 documents",
        "3": "Hand over 3 documents",
    }
    assert page.text.count('name="requests"') == 3


def test_the_button_labels_follow_the_language(door, branch, patron):
    make_ready_requests(patron, branch, ["Un", "Deux"])
    with translation.override("fr"):
        page = door.get(reverse("desk:door", args=[branch.pk]) + f"?card={patron.card_number}")
    assert 'data-label-1="Remettre 1 document"' in page.text
    assert 'data-label-2="Remettre 2 documents"' in page.text


def test_the_handed_over_message_has_a_real_plural(door, branch, patron):
    make_ready_requests(patron, branch, ["Un", "Deux"])
    page = scan(door, branch, patron.card_number)
    first = page.context["door"].ready[0]
    one = hand_over(door, branch, page, requests=[first.pk])
    assert "1 document handed over." in one.text and "document(s)" not in one.text
    two = make_ready_requests(patron, branch, ["Trois"])
    both = hand_over(door, branch, scan(door, branch, patron.card_number))
    assert len(two) == 1 and "2 documents handed over." in both.text


def test_after_the_hand_over_focus_is_on_the_next_card(door, branch, patron):
    make_ready_requests(patron, branch, ["Un"])
    receipt = hand_over(door, branch, scan(door, branch, patron.card_number))
    (scan_form,) = re.findall(r"<form[^>]*data-scan[^>]*>.*?</form>", receipt.text, re.S)
    assert f'action="{url("desk:door", branch.pk)}"' in scan_form and 'method="get"' in scan_form
    (card_input,) = re.findall(r'<input[^>]*name="card"[^>]*>', scan_form)
    assert "autofocus" in card_input
    # Only one element asks for focus, else the browser picks the first.
    assert receipt.text.count("autofocus") == 1


# 4. The hold shelf's two transit headings -----------------------------------------------


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_two_transit_headings_are_clearly_different(door, branch, language):
    with translation.override(language):
        page = door.get(reverse("desk:shelf", args=[branch.pk]), HTTP_ACCEPT_LANGUAGE=language)
    arriving = re.search(r'<h2 id="transit-title">(.*?)</h2>', page.text).group(1)
    home = re.search(r'<h2 id="home-title">(.*?)</h2>', page.text).group(1)
    # "En route vers cette bibliothèque (pas encore en sac)" / "(depuis une autre)" told
    # the two apart only in brackets.
    assert arriving.split("(")[0].strip() != home.split("(")[0].strip()


def test_the_headings_say_what_each_list_is_for(door, branch):
    page = door.get(url("desk:shelf", branch.pk))
    assert "Arriving for patrons' bags (not in a bag yet)" in page.text
    assert "Our documents coming home from other libraries" in page.text
