"""A surprise bag in headless Chromium: a parent asks for one for their child on a
phone, a phone-desk librarian composes it by keyboard alone on a desktop, and the
documents are on the child's account. Screenshots land in test-output/surprise-bag/."""

import re

import pytest
from django.contrib.auth import get_user_model

from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.holds.models import Request, Status
from emporter.patrons.models import Role, StaffRole
from tests.browser.conftest import Shots
from tests.conftest import make_branch, make_patron, make_record

pytestmark = pytest.mark.django_db(transaction=True)


def test_parent_asks_librarian_composes_by_keyboard(live_server, phone, desktop):
    base = live_server.url
    branch = make_branch()
    for title, subject in [
        ("Dinosaures en folie", "Dinosaures"),
        ("Mission espace", "Espace"),
        ("Le loup", "Loups"),
    ]:
        make_record(
            title=title,
            copies=[branch],
            doc_type="comic",
            audience="youth",
            age_min=6,
            age_max=9,
            subjects=[subject],
        )
    parent = make_patron(branch, card="20000001", first_name="Nadia", last_name="Benali")
    child = make_patron(
        branch, card="20000002", first_name="Lina", last_name="Benali", category="child", guardian=parent
    )
    user = get_user_model().objects.create_user(username="biblio", password="motdepasse-demo")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=branch)
    shot = Shots("surprise-bag")

    # The parent, on a phone, asks for two comics for Lina.
    phone.goto(f"{base}/account/login/?next=/discover/surprise/")
    phone.fill("#id_card_number", parent.card_number)
    phone.fill("#id_pin", "1234")
    with phone.expect_navigation():
        phone.click("main form button[type=submit]")
    phone.wait_for_url(re.compile(r".*/discover/surprise/$"))
    phone.select_option("#id_for_whom", str(child.pk))
    phone.fill("#id_age", "7")
    phone.fill("#id_how_many", "2")
    phone.check("input[name=kinds][value=comics]")
    phone.fill("#id_tastes", "dinosaures espace")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(phone, "parent-asks")
    with phone.expect_navigation():
        phone.click("form.surprise-form button[type=submit]")
    shot(phone, "parent-asked")
    surprise = SurpriseRequest.objects.get(patron=child)

    # The librarian, keyboard only: sign in, open the queue, open the bag, confirm.
    desktop.goto(f"{base}/staff/login/?next=/discover/staff/surprise/")
    desktop.fill("#id_username", "biblio")
    desktop.fill("#id_password", "motdepasse-demo")
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    desktop.wait_for_url(re.compile(r".*/discover/staff/surprise/$"))
    shot(desktop, "queue")
    link = desktop.locator(f"a[href$='/discover/staff/surprise/{surprise.pk}/']")
    link.focus()
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    shot(desktop, "compose")
    # The two matching comics come ticked; the confirm button is reached with Tab.
    assert desktop.locator("input[name=record]:checked").count() == 2
    confirm = desktop.locator("button[name=confirm]")
    for _ in range(30):
        desktop.keyboard.press("Tab")
        if confirm.evaluate("button => button === document.activeElement"):
            break
    else:
        pytest.fail("the confirm button cannot be reached with Tab")
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    shot(desktop, "composed")

    surprise.refresh_from_db()
    assert surprise.status == SurpriseStatus.COMPOSED
    titles = sorted(
        Request.objects.filter(patron=child, status=Status.PLACED).values_list("record__title", flat=True)
    )
    assert titles == ["Dinosaures en folie", "Mission espace"]
