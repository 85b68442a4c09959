"""Every main page fits a 360 px phone: nothing to scroll sideways, no action off-screen."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from emporter.desk.services import hand_over
from emporter.holds.models import Request, Status
from emporter.holds.services import place_request
from emporter.notices import compose
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.browser.conftest import Shots
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record

pytestmark = pytest.mark.django_db(transaction=True)

# Long, unbreakable-looking words are what push a table wider than a phone.
LONG = "Les Aventures extraordinaires d'Adèle Blanc-Sec et du ptérodactyle du Jardin des Plantes"


def sign_in_patron(page, base, card):
    page.goto(f"{base}/account/login/")
    page.fill("#id_card_number", card)
    page.fill("#id_pin", "1234")
    with page.expect_navigation():
        page.click("main form button[type=submit]")


def sign_in_staff(page, base, username):
    page.goto(f"{base}/staff/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "motdepasse-demo")
    with page.expect_navigation():
        page.click("main form button[type=submit]")


def overflow(page, base, url, shot) -> str:
    """Empty when the page fits; otherwise its width and the elements that stick out."""
    page.goto(base + url)
    parts = [part for part in url.split("?")[0].split("/") if part and not part.isdigit()]
    shot(page, "-".join(parts) or "home")
    return page.evaluate(
        """() => {
          const width = document.documentElement.scrollWidth;
          // A table in a scrolling box keeps the page narrow but hides its last columns.
          const hidden = [...document.querySelectorAll("main .table-wrap, main button, main .button")]
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => e.className + " " + e.textContent.trim().slice(0, 30));
          if (width <= 360 && !hidden.length) return "";
          const out = [...document.querySelectorAll("main *")]
            .filter(e => e.getBoundingClientRect().right > 361)
            .slice(-3)
            .map(e => e.tagName + "." + e.className + " " + (e.textContent || "").trim().slice(0, 30));
          return `${width}px: ${out.join(" | ")} / cut: ${hidden.join(" | ")}`;
        }"""
    )


def test_main_pages_fit_a_360px_phone(live_server, phone):
    base = live_server.url
    branch = make_branch(weekdays=range(7), pick_time=datetime.time(23, 59))
    make_branch(code="CRO", name="Croix-Rousse")
    patron = make_patron(branch, first_name="Inès", last_name="Girard-Lefebvre")
    ready = make_ready_requests(patron, branch, [LONG, "Le Petit Prince"])
    loans = hand_over(patron=patron, branch=branch, request_ids=[ready[0].pk]).loans
    placed = make_record(title=LONG + " II", copies=[branch])
    place_request(patron=patron, record_id=placed.pk, pickup_branch=branch)
    waiting = make_record(title=LONG + " III", copies=[(branch, "on_loan")])
    place_request(patron=patron, record_id=waiting.pk, pickup_branch=branch)
    missing, _ = place_request(
        patron=patron, record_id=make_record(title=LONG + " IV", copies=[branch]).pk, pickup_branch=branch
    )
    run = picking.build_run(branch=branch, kind="late")
    for line in run.lines.filter(copy=missing.copy):
        picking.mark_not_found(line=line, reason="pas au rayon")
    compose.compose_all(timezone.now() + datetime.timedelta(minutes=5))
    admin = get_user_model().objects.create_user(username="admin", password="motdepasse-demo")
    StaffRole.objects.create(user=admin, role=Role.NETWORK_ADMIN)
    assert Request.objects.filter(status=Status.WAITING).exists()

    shot = Shots("phone-widths")
    sign_in_patron(phone, base, patron.card_number)
    patron_pages = ["/", "/discover/", "/account/", "/account/pin/", "/basket/", "/catalogue/?q=Aventures"]
    problems = {url: overflow(phone, base, url, shot) for url in patron_pages}
    # Cancelling asks first: the question, once opened, fits too.
    phone.goto(f"{base}/account/")
    confirm = phone.locator("details.confirm").first
    assert not confirm.locator("button[type=submit]").is_visible()
    confirm.locator("summary").press("Enter")  # from the keyboard, no JavaScript of ours
    assert confirm.locator("button[type=submit]").is_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.click("header form.logout button")
    sign_in_staff(phone, base, "admin")
    receipt = f"/staff/door/{branch.pk}/receipt/{patron.pk}/?loans={','.join(str(loan.pk) for loan in loans)}"
    staff_pages = ["/staff/notices/", "/staff/picking/missing/", receipt, "/staff/network/modes/"]
    staff_pages += [f"/catalogue/record/{placed.pk}/", f"/staff/picking/runs/{run.pk}/"]
    problems |= {url: overflow(phone, base, url, shot) for url in staff_pages}
    assert {url: p for url, p in problems.items() if p} == {}
