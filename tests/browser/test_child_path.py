"""A child's path on a phone, in headless Chromium: home → 6–9 years → comics → two
comics into the basket → sign in → confirm. Part of it by keyboard only; every page
must fit 360 px without scrolling sideways. Screenshots land in test-output/child-path/."""

import re

import pytest

from emporter.discovery.models import Selection, SelectionItem
from emporter.holds.models import Request, Status
from tests.browser.conftest import Shots
from tests.conftest import make_branch, make_patron, make_record

pytestmark = pytest.mark.django_db(transaction=True)

COMICS = ["Les Dinos en BD", "Mission espace, tome 1", "Le chat qui voulait voler"]


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_child_browses_by_age_and_kind_and_requests_two_comics(live_server, phone):
    base = live_server.url
    branch = make_branch()
    comics = [
        make_record(title=t, copies=[branch], doc_type="comic", audience="youth", age_min=6, age_max=9)
        for t in COMICS
    ]
    make_record(
        title="BD pour ados", copies=[branch], doc_type="comic", audience="youth", age_min=13, age_max=16
    )
    selection = Selection.objects.create(title="Coups de cœur jeunesse", colour="#b3407a")
    SelectionItem.objects.create(selection=selection, record=comics[0])
    child = make_patron(branch, card="20000002", first_name="Lina", category="child")
    shot = Shots("child-path")

    # Home: the age tiles come first, reached with the keyboard alone.
    phone.goto(f"{base}/")
    assert fits_the_screen(phone)
    shot(phone, "home")
    band = phone.get_by_role("link", name=re.compile("^6–9 (ans|years)$"))
    for _ in range(40):
        phone.keyboard.press("Tab")
        if band.evaluate("link => link === document.activeElement"):
            break
    else:
        pytest.fail("the 6–9 tile cannot be reached with Tab")
    with phone.expect_navigation():
        phone.keyboard.press("Enter")
    assert phone.url.endswith("/discover/browse/6-9/")
    assert fits_the_screen(phone)
    shot(phone, "age-6-9")

    # The kind tiles: comics. (Both languages accepted until the French catalogue is merged.)
    with phone.expect_navigation():
        phone.get_by_role("link", name=re.compile("^(Bandes dessinées|Comics)$")).click()
    assert phone.url.endswith("/discover/browse/6-9/comics/")
    tiles = phone.locator("ul.tiles li.tile")
    assert tiles.count() == 3 and "BD pour ados" not in phone.content()
    assert fits_the_screen(phone)
    shot(phone, "comics-6-9")

    # Two comics into the basket, one click each (the second by keyboard).
    with phone.expect_navigation():
        phone.locator(f"#tile-{comics[0].pk} form.add-to-basket button").click()
    assert phone.locator(f"#tile-{comics[0].pk} .in-basket").is_visible()
    phone.locator(f"#tile-{comics[1].pk} form.add-to-basket button").focus()
    with phone.expect_navigation():
        phone.keyboard.press("Enter")
    shot(phone, "two-in-basket")

    # The basket asks to sign in, then comes back to it.
    phone.goto(f"{base}/basket/")
    assert phone.locator("#confirm-form li").count() == 2
    with phone.expect_navigation():
        phone.get_by_role("link", name="Se connecter pour confirmer").click()
    phone.fill("#id_card_number", child.card_number)
    phone.fill("#id_pin", "1234")
    with phone.expect_navigation():
        phone.click("main form button[type=submit]")
    phone.goto(f"{base}/basket/")
    assert fits_the_screen(phone)
    shot(phone, "basket-signed-in")
    with phone.expect_navigation():
        phone.get_by_role("button", name="Confirmer mes réservations").click()
    shot(phone, "confirmed")

    placed = Request.objects.filter(patron=child, status=Status.PLACED)
    assert sorted(placed.values_list("record__title", flat=True)) == sorted(COMICS[:2])

    # The selection page, the discovery page and a record's "more like this" fit the phone too.
    phone.goto(f"{base}/discover/selections/{selection.pk}/")
    assert fits_the_screen(phone)
    shot(phone, "selection")
    phone.goto(f"{base}/discover/")
    assert fits_the_screen(phone)
    shot(phone, "discover")
    phone.goto(f"{base}/catalogue/record/{comics[0].pk}/")
    more = phone.locator("section.more-like-this li.tile")
    # Requested by Lina now: its copy is set aside, so only the third comic is offered.
    assert more.count() >= 1 and "Le chat qui voulait voler" in more.first.inner_text()
    assert "Mission espace" not in phone.locator("section.more-like-this").inner_text()
    assert fits_the_screen(phone)
    shot(phone, "record-more-like-this")
