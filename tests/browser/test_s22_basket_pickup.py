"""Choosing another library to collect at, in the basket, brings that library's warnings
in place, said aloud, without leaving the page (headless Chromium)."""

import pytest

from emporter.holds.models import Request, RequestPolicy
from tests.browser.test_phone_widths import sign_in_patron
from tests.conftest import make_branch, make_patron, make_record

pytestmark = pytest.mark.django_db(transaction=True)

NONE_HERE = "Croix-Rousse ne prête que ses propres exemplaires et n’en a aucun de ce document"


def test_choosing_a_library_in_the_basket_says_what_it_has_none_of(live_server, desktop):
    base = live_server.url
    home = make_branch()
    other = make_branch(code="CRX", name="Croix-Rousse")
    RequestPolicy.objects.create(branch=other, allow_other_branches=False)
    patron = make_patron(home)
    germinal = make_record("Germinal", copies=[home])
    both = make_record("Nana", copies=[home, other])
    sign_in_patron(desktop, base, patron.card_number)
    for record in (germinal, both):
        desktop.goto(f"{base}/catalogue/record/{record.pk}/")
        with desktop.expect_navigation():
            desktop.locator("form.add-to-basket button").first.click()
    desktop.goto(f"{base}/basket/")
    items = desktop.locator("[data-basket-list] li")
    assert items.count() == 2 and NONE_HERE not in desktop.inner_text("main")

    desktop.select_option("#pickup", str(other.pk))
    desktop.wait_for_function(
        "text => document.querySelector('[data-basket-list]').textContent.includes(text)", arg=NONE_HERE
    )
    assert desktop.url == f"{base}/basket/"  # the same page, the choice kept
    assert desktop.input_value("#pickup") == str(other.pk)
    germinal_item = items.filter(has_text="Germinal")
    assert NONE_HERE in germinal_item.inner_text()
    assert NONE_HERE not in items.filter(has_text="Nana").inner_text()
    # Said with the title it is about; the document without a warning is not said.
    announced = "text => document.getElementById('announce-polite').textContent.includes(text)"
    desktop.wait_for_function(announced, arg=f"Germinal — {NONE_HERE}")
    assert "Nana" not in desktop.inner_text("#announce-polite")

    # Back to the patron's own library: the warning goes; confirming there places both.
    desktop.select_option("#pickup", str(home.pk))
    desktop.wait_for_function(
        "text => !document.querySelector('[data-basket-list]').textContent.includes(text)", arg=NONE_HERE
    )
    desktop.wait_for_function(announced, arg="À Part-Dieu\u00a0: aucun avertissement pour ces documents.")
    with desktop.expect_navigation():
        desktop.get_by_role("button", name="Confirmer mes réservations").click()
    assert Request.objects.filter(patron=patron, pickup_branch=home).count() == 2


def test_a_document_added_in_another_tab_can_be_removed_once_the_list_is_asked_again(live_server, desktop):
    base = live_server.url
    home = make_branch()
    other = make_branch(code="CRX", name="Croix-Rousse")
    patron = make_patron(home)
    germinal = make_record("Germinal", copies=[home])
    added = make_record("Nana", copies=[home, other])
    sign_in_patron(desktop, base, patron.card_number)
    desktop.goto(f"{base}/catalogue/record/{germinal.pk}/")
    with desktop.expect_navigation():
        desktop.locator("form.add-to-basket button").first.click()
    desktop.goto(f"{base}/basket/")
    tab = desktop.context.new_page()
    tab.goto(f"{base}/catalogue/record/{added.pk}/")
    with tab.expect_navigation():
        tab.locator("form.add-to-basket button").first.click()
    tab.close()

    desktop.select_option("#pickup", str(other.pk))
    items = desktop.locator("[data-basket-list] li")
    items.filter(has_text="Nana").wait_for()
    with desktop.expect_navigation():
        items.filter(has_text="Nana").get_by_role("button", name="Enlever").click()
    assert desktop.url == f"{base}/basket/?pickup={other.pk}"
    assert items.count() == 1 and "Germinal" in items.first.inner_text()
    assert "Nana" not in desktop.inner_text("[data-basket-list]")
