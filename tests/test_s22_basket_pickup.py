"""The basket's warnings are for the library the patron chooses to collect at, not only
for the one first selected: a library that lends only its own copies and has none of a
document says so before the patron confirms there."""

import html
import re

from django.urls import reverse
from django.utils import translation

from emporter.holds import basket
from emporter.holds.models import RequestPolicy
from emporter.holds.services import place_request
from emporter.network.models import ServiceMode
from tests.conftest import make_patron, make_record

NONE_HERE = "lends only its own copies, and has none of this document"


def _basket(client, pickup=None) -> str:
    with translation.override("en"):
        url = reverse("holds:basket")
    return html.unescape(client.get(url, {} if pickup is None else {"pickup": pickup}).text)


def _selected(page: str) -> list[str]:
    select = re.search(r'<select id="pickup".*?</select>', page, re.S).group(0)
    return re.findall(r'<option value="([^"]*)"[^>]* selected', select)


def _signed_in_with(client, branch, other_branch):
    """A patron of ``branch`` with a title only ``branch`` has in the basket;
    ``other_branch`` lends only its own copies."""
    RequestPolicy.objects.create(branch=other_branch, allow_other_branches=False)
    patron = make_patron(branch)
    record = make_record("Germinal", copies=[branch])
    client.force_login(patron.user)
    client.post(reverse("holds:add", args=[record.pk]))
    return patron


def test_the_basket_warns_for_the_library_chosen_in_the_list(client, branch, other_branch):
    _signed_in_with(client, branch, other_branch)
    home = _basket(
        client,
    )
    assert NONE_HERE not in home and _selected(home) == [str(branch.pk)]
    chosen = _basket(client, pickup=other_branch.pk)
    assert f"Croix-Rousse {NONE_HERE}" in chosen.replace("\n", " ")
    assert _selected(chosen) == [str(other_branch.pk)]


def test_a_pickup_that_is_no_choice_is_left_for_the_patrons_own(client, branch, other_branch):
    _signed_in_with(client, branch, other_branch)
    for pickup in ["abc", "0", "999999"]:
        page = _basket(client, pickup=pickup)
        assert NONE_HERE not in page and _selected(page) == [str(branch.pk)]
    other_branch.service_mode = ServiceMode.CLOSED
    other_branch.save()
    page = _basket(client, pickup=other_branch.pk)
    assert NONE_HERE not in page and _selected(page) == [str(branch.pk)]


def test_a_library_chosen_instead_of_ones_own_closed_is_the_one_selected(client, branch, other_branch):
    _signed_in_with(client, branch, other_branch)
    branch.service_mode = ServiceMode.CLOSED
    branch.save()
    page = _basket(client)
    assert _selected(page) == [""]  # "Choose a library"
    page = _basket(client, pickup=other_branch.pk)
    assert _selected(page) == [str(other_branch.pk)] and f"Croix-Rousse {NONE_HERE}" in page.replace(
        "\n", " "
    )


def test_the_list_asked_for_another_library_changes_nothing_else(client, branch, other_branch):
    """basket.js asks for the list alone (?part=list): a title requested meanwhile (in
    another tab) is not in it, but stays in the basket, to be said by the next page."""
    patron = _signed_in_with(client, branch, other_branch)
    requested = make_record("Nana", copies=[branch])
    client.post(reverse("holds:add", args=[requested.pk]))
    place_request(patron=patron, record_id=requested.pk, pickup_branch=branch)
    part = html.unescape(
        client.get(reverse("holds:basket"), {"pickup": other_branch.pk, "part": "list"}).text
    )
    assert part.lstrip().startswith("<ul") and "<html" not in part
    assert "Germinal" in part and "Nana" not in part
    assert "ne prête que ses propres exemplaires" in part
    assert basket.records(client.session) and requested.pk in client.session["basket"]
    page = html.unescape(client.get(reverse("holds:basket")).text)  # French
    assert "Vous avez déjà réservé « Nana » : il a été retiré de votre panier." in page.replace("\xa0", " ")


def test_removing_a_document_keeps_the_library_chosen(client, branch, other_branch):
    _signed_in_with(client, branch, other_branch)
    kept = make_record("Nana", copies=[branch])
    client.post(reverse("holds:add", args=[kept.pk]))
    part = client.get(reverse("holds:basket"), {"pickup": other_branch.pk, "part": "list"}).text
    assert f'name="pickup" value="{other_branch.pk}"' in part  # on each Remove button
    germinal = next(pk for pk in client.session["basket"] if pk != kept.pk)
    answer = client.post(reverse("holds:remove", args=[germinal]), {"pickup": other_branch.pk})
    assert answer.url == reverse("holds:basket") + f"?pickup={other_branch.pk}"
    page = _basket(client, pickup=other_branch.pk)
    listed = re.search(r"<ul[^>]*data-basket-list.*?</ul>", page, re.S).group(0)
    assert "Nana" in listed and "Germinal" not in listed
    assert _selected(page) == [str(other_branch.pk)]
    answer = client.post(reverse("holds:remove", args=[kept.pk]), {"pickup": "nothing"})
    assert answer.url == reverse("holds:basket")


def test_the_list_asked_again_brings_the_remove_forms_of_documents_added_meanwhile(
    client, branch, other_branch
):
    """A document added in another tab after the basket was shown comes in the list that
    basket.js asks for: its Remove button needs a form, which comes with it."""
    _signed_in_with(client, branch, other_branch)
    added = make_record("Nana", copies=[branch])
    client.post(reverse("holds:add", args=[added.pk]))
    part = client.get(reverse("holds:basket"), {"pickup": other_branch.pk, "part": "list"}).text
    for pk in client.session["basket"]:
        assert f'form="remove-{pk}"' in part
        form = re.search(rf'<form id="remove-{pk}" method="post" action="([^"]+)">(.*?)</form>', part, re.S)
        assert form and form.group(1) == reverse("holds:remove", args=[pk])
        assert 'name="csrfmiddlewaretoken"' in form.group(2)
    # Outside the list (the page puts the list inside the confirm form; forms do not nest).
    assert part.index("</ul>") < part.index("<form")
