"""The whole service as people use it, in headless Chromium: a patron requests three
documents on a phone, the morning pull finds two, the email arrives, the door hands
the bag over, and the patron's account shows the loans. Screenshots of every step
land in test-output/journey/."""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from emporter.desk.models import Loan
from emporter.holds.models import Request, Status
from emporter.notices import compose, outbox
from emporter.patrons.models import Role, StaffRole
from emporter.picking.models import PickRun
from tests.browser.conftest import Shots
from tests.conftest import make_branch, make_department, make_location, make_patron, make_record

pytestmark = pytest.mark.django_db(transaction=True)

TITLES = ["Le Petit Prince des étoiles", "Voyage au centre de Lyon", "Les Misérables du quartier"]


def staff(username, role, branch):
    user = get_user_model().objects.create_user(username=username, password="motdepasse-demo")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


def staff_sign_in(page, base, username):
    page.goto(f"{base}/staff/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "motdepasse-demo")
    page.click("main form button[type=submit]")


def test_request_pull_email_handover(live_server, phone, desktop, smtp):
    base = live_server.url
    # The morning pull is built on demand here; a pick time late in the day makes the
    # on-demand run take everything placed before it.
    branch = make_branch(weekdays=range(7), pick_time=datetime.time(23, 59))
    youth = make_department(branch, code="jeunesse", name="Jeunesse")
    albums = make_location(youth, code="albums", name="Albums", hint="Bacs à gauche de l'entrée")
    records = [make_record(title=t, copies=[branch], responsibility="Auteur Démo") for t in TITLES]
    for record in records:
        record.copies.update(department=youth, location=albums)
    patron = make_patron(branch, first_name="Inès", last_name="Girard")
    staff("picker", Role.PICKER, branch)
    staff("door", Role.DOOR_DESK, branch)
    shot = Shots("journey")

    # 1. The patron signs in on a phone, searches, adds three documents, confirms.
    phone.goto(f"{base}/account/login/")
    assert phone.locator("html").get_attribute("lang") == "fr"
    phone.fill("#id_card_number", patron.card_number)
    phone.fill("#id_pin", "1234")
    shot(phone, "patron-sign-in")
    phone.click("main form button[type=submit]")
    phone.wait_for_url(f"{base}/account/")
    for title in TITLES:
        phone.goto(f"{base}/")
        phone.fill("input[name=q]", title.split()[-1])
        with phone.expect_navigation():
            phone.keyboard.press("Enter")
        with phone.expect_navigation():
            phone.get_by_role("link", name=title).first.click()
        if title == TITLES[0]:
            shot(phone, "record-page")
        with phone.expect_navigation():
            phone.locator("#record-actions form.add-to-basket button").click()
    phone.goto(f"{base}/basket/")
    shot(phone, "basket")
    phone.get_by_role("button", name="Confirmer mes réservations").click()
    phone.wait_for_url(f"{base}/account/")
    shot(phone, "requests-placed")
    assert Request.objects.filter(patron=patron, status=Status.PLACED).count() == 3

    # 2. The morning pull: a picker builds the run and works it on a phone.
    staff_sign_in(phone, base, "picker")
    phone.goto(f"{base}/staff/picking/")
    with phone.expect_navigation():
        phone.locator('form[action$="/build/"] button').first.click()
    run = PickRun.objects.get(branch=branch)
    assert run.lines.count() == 3
    phone.goto(f"{base}/staff/picking/runs/{run.pk}/pick/")
    shot(phone, "pick-list-on-phone")
    barcodes = [r.copies.get().barcode for r in records]
    for barcode in barcodes[:2]:
        # A scanner types the barcode and Enter; the page saves it in the background
        # and moves the line to the "done" section.
        line = run.lines.get(copy__barcode=barcode)
        phone.fill("#barcode", barcode)
        phone.keyboard.press("Enter")
        phone.wait_for_selector(f"#line-{line.pk}", state="detached")
    shot(phone, "two-found")
    missing_line = run.lines.get(copy__barcode=barcodes[2])
    item = phone.locator(f"#line-{missing_line.pk}")
    item.locator("summary").click()
    with phone.expect_navigation():
        item.locator("form.not-found button[type=submit]").click()
    shot(phone, "one-not-found")
    statuses = dict(Request.objects.values_list("copy__barcode", "status"))
    assert [statuses.get(b) for b in barcodes[:2]] == [Status.READY, Status.READY]
    assert Request.objects.get(record=records[2]).status == Status.NOT_FOUND

    # 3. The worker composes and sends: one email says what is ready and what is not.
    later = timezone.now() + datetime.timedelta(minutes=1)
    compose.compose_all(later)
    outbox.send_due(later)
    ready_mail = [m for to, m in smtp.messages if "vous attendent" in m["Subject"]]
    assert len(ready_mail) == 1 and ready_mail[0]["To"] == patron.email
    text = ready_mail[0].get_body(("plain",)).get_content()
    assert TITLES[0] in text and TITLES[1] in text
    assert TITLES[2] in text and "pas pu trouver" in text

    # 4. At the door: the card is scanned, the bag shown, everything handed over.
    staff_sign_in(desktop, base, "door")
    desktop.goto(f"{base}/staff/door/{branch.pk}/")
    desktop.fill("#card", patron.card_number)
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    bag = patron.bags.get()
    assert bag.label in desktop.content()
    shot(desktop, "door-bag-shown")
    with desktop.expect_navigation():
        desktop.get_by_role("button", name=re.compile("Remettre|Hand over")).click()
    shot(desktop, "door-handed-over")
    assert Loan.objects.filter(patron=patron).count() == 2

    # 5. The patron's account shows two loans.
    patron_page = phone.context.browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    patron_page.goto(f"{base}/account/login/")
    patron_page.fill("#id_card_number", patron.card_number)
    patron_page.fill("#id_pin", "1234")
    patron_page.click("main form button[type=submit]")
    patron_page.wait_for_url(f"{base}/account/")
    loans = patron_page.locator("table.loans tbody tr")
    assert loans.count() == 2
    shot(patron_page, "account-with-loans")
    patron_page.context.close()
