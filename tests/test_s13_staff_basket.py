"""A staff account has no basket: confirming one asked for a card's sign-in, which would
sign the librarian out. The pages say to request for a caller at the phone desk."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_patron, make_record

# The pages are in French: the tests look for the forms and links, not their words.
ADD_FORM = 'class="add-to-basket"'
STAFF_NOTE = 'class="meta staff-no-basket"'


@pytest.fixture
def record(branch):
    return make_record("Friendly fire", copies=[branch])


def _staff(client, branch, role):
    user = get_user_model().objects.create_user(f"staff-{role}", password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_a_phone_desk_librarian_sees_no_basket_but_the_way_to_the_phone_desk(client, branch, record):
    _staff(client, branch, Role.PHONE_DESK)
    page = client.get(reverse("catalogue:record", args=[record.pk])).content.decode()
    assert f'href="{reverse("holds:basket")}"' not in page
    assert ADD_FORM not in page and STAFF_NOTE in page
    assert f'href="{reverse("phonedesk:find")}"' in page.split(STAFF_NOTE)[1]
    results = client.get(reverse("catalogue:search"), {"q": "friendly"}).content.decode()
    assert "Friendly fire" in results
    assert ADD_FORM not in results and f'href="{reverse("holds:basket")}"' not in results


@pytest.mark.django_db
def test_a_picker_is_told_who_requests_without_a_link_they_cannot_open(client, branch, record):
    _staff(client, branch, Role.PICKER)
    page = client.get(reverse("catalogue:record", args=[record.pk])).content.decode()
    assert ADD_FORM not in page and STAFF_NOTE in page
    assert reverse("phonedesk:find") not in page


@pytest.mark.django_db
def test_a_staff_add_from_a_stale_page_is_refused_in_words(client, branch, record):
    _staff(client, branch, Role.PHONE_DESK)
    back = reverse("catalogue:record", args=[record.pk])
    response = client.post(reverse("holds:add", args=[record.pk]), {"next": back}, follow=True)
    assert response.redirect_chain[-1][0] == back
    assert "Les comptes du personnel n’ont pas de panier" in response.content.decode()
    assert not client.session.get("basket")
    # The basket page, from an old bookmark, offers no patron sign-in either.
    basket_page = client.get(reverse("holds:basket")).content.decode()
    assert reverse("patrons:login") not in basket_page


@pytest.mark.django_db
def test_patrons_and_visitors_keep_their_basket(client, branch, record):
    page = client.get(reverse("catalogue:record", args=[record.pk])).content.decode()
    assert ADD_FORM in page and f'href="{reverse("holds:basket")}"' in page
    patron = make_patron(branch)
    client.force_login(patron.user)
    client.post(reverse("holds:add", args=[record.pk]))
    assert client.session["basket"] == [record.pk]
    page = client.get(reverse("catalogue:search"), {"q": "friendly"}).content.decode()
    assert 'class="in-basket"' in page and STAFF_NOTE not in page


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in", [True, False])
def test_more_like_this_tiles_keep_their_basket_button(client, branch, signed_in):
    # The tag renders its tiles in a context of its own, without the context processors'.
    record = make_record(title="Tome 1", copies=[branch], series="Astérix")
    other = make_record(title="Tome 2", copies=[branch], series="Astérix")
    if signed_in:
        client.force_login(make_patron(branch).user)
    page = client.get(reverse("catalogue:record", args=[record.pk])).content.decode()
    tile = page[page.index(f'id="tile-{other.pk}"') :]
    assert ADD_FORM in tile[: tile.index("</li>")]
