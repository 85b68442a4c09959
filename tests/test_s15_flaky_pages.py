"""Staff pages on a flaky connection or a session that ended (review "flaky" of round 15):
a scan the server did not take is never dropped without a word, the door's list says
since when it is not kept up to date, and a form left open too long answers the
project's own page.

The pages are read in English (/en/): the assertions read the msgids. The browser tests
drive headless Chromium as tests/browser/ does."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from emporter.curbside.models import Appointment
from emporter.holds.services import place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.picking.models import LineStatus, PickLine
from tests.browser.conftest import chromium, desktop, phone  # noqa: F401 (fixtures)
from tests.browser.test_journey import staff
from tests.conftest import make_patron, make_ready_requests, make_record


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


# A form sent with a token that no longer matches: the project's page, not Django's ------


def stale_post(client, url, home=None):
    """Posts to ``url`` as a form opened before a sign-in in another tab rotated the
    CSRF cookie."""
    client.get(home or en("home"))
    stale = client.cookies["csrftoken"].value
    client.cookies["csrftoken"] = "x" * 32
    return client.post(url, {"csrfmiddlewaretoken": stale, "action": "found"})


def test_a_stale_staff_form_answers_a_page_that_says_what_to_do(branch, patron, settings):
    settings.DEBUG = True  # Django's own page would then speak of its reasons
    place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    line = picking.build_run(branch=branch, kind="late").lines.get()
    user = get_user_model().objects.create_user(username="rayon", password="x")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = stale_post(client, en("picking:mark", line.pk))

    assert response.status_code == 403
    text = response.content.decode()
    assert "This page was open too long" in text
    assert "Go back to that page, reload it, then do it again." in text
    assert "DEBUG" not in text and "CSRF" not in text
    assert f'href="{en("picking:index")}"' in text  # the staff's own screens, in the menu
    assert "Sign out" in text  # the page knows who is signed in
    assert PickLine.objects.get(pk=line.pk).status == LineStatus.PENDING


def test_the_stale_form_page_links_back_to_the_page_the_form_was_on(branch, patron):
    """It sits at the form's own address: reloading it sent the form again, stale still."""
    place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    line = picking.build_run(branch=branch, kind="late").lines.get()
    user = get_user_model().objects.create_user(username="rayon", password="x")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(en("home"))
    stale = client.cookies["csrftoken"].value
    client.cookies["csrftoken"] = "x" * 32
    pick_page = en("picking:index")
    response = client.post(
        en("picking:mark", line.pk),
        {"csrfmiddlewaretoken": stale, "action": "found"},
        headers={"referer": f"http://testserver{pick_page}"},
    )
    assert response.status_code == 403
    assert f'<a class="button" href="{pick_page}">Back to that page</a>' in response.text
    # Another site's page is no way back.
    other = client.post(
        en("picking:mark", line.pk),
        {"csrfmiddlewaretoken": stale, "action": "found"},
        headers={"referer": "https://evil.example/page/"},
    )
    assert "Back to that page" not in other.text


def test_a_stale_sign_in_form_answers_the_same_page_with_the_sign_in_links(db):
    client = Client(enforce_csrf_checks=True)

    response = stale_post(client, en("staff_login"))

    assert response.status_code == 403
    text = response.content.decode()
    assert "This page was open too long" in text
    assert f'href="{en("staff_login")}"' in text and f'href="{en("home")}"' in text
    # French by default, as every page.
    fr = Client(enforce_csrf_checks=True)
    french = stale_post(fr, "/staff/login/", home="/")
    assert french.status_code == 403 and '<html lang="fr">' in french.content.decode()


# The picker's scan box (picking.js) ----------------------------------------------------


def sign_in(page, base, username="rayon"):
    page.goto(f"{base}/en/staff/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "motdepasse-demo")
    with page.expect_navigation():
        page.click("main form button[type=submit]")


def a_run(branch, titles):
    patron = make_patron(branch, card="20690050")
    requests = [
        place_request(
            patron=patron, record_id=make_record(title=t, copies=[branch]).pk, pickup_branch=branch
        )[0]
        for t in titles
    ]
    return picking.build_run(branch=branch, kind="late"), [r.copy.barcode for r in requests]


def status_of(barcode) -> str:
    return PickLine.objects.get(copy__barcode=barcode).status


def scan(page, barcode):
    page.fill("#barcode", barcode)
    page.press("#barcode", "Enter")


def lost(page) -> list[str]:
    return page.locator("[data-scan-lost] li").all_inner_texts()


def open_picking(page, base, run, branch):
    staff("rayon", Role.PICKER, branch)
    sign_in(page, base)
    page.goto(f"{base}/en/staff/picking/runs/{run.pk}/pick/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_scans_refused_for_a_stale_token_are_named_after_the_reload(live_server, phone, branch):  # noqa: F811
    run, (first, second) = a_run(branch, ["Jeton périmé", "Juste derrière"])
    open_picking(phone, live_server.url, run, branch)
    other_tab = phone.context.new_page()
    sign_in(other_tab, live_server.url)  # a new sign-in rotates the CSRF cookie
    other_tab.close()
    held = []

    def hold_the_first(route):
        if held:
            route.continue_()
        else:
            held.append(route)  # answered when the second scan is queued behind it

    phone.route("**/scan/", hold_the_first)
    phone.evaluate("window.notReloaded = true")

    scan(phone, first)
    phone.wait_for_timeout(300)
    scan(phone, second)  # queued behind the first
    assert phone.locator("[data-scan-sending]").is_visible()
    assert "(2)" in phone.inner_text("[data-scan-sending]")
    with phone.expect_navigation():
        held[0].continue_()  # 403: the token of the form is stale

    phone.wait_for_selector("[data-scan-lost] li")
    assert phone.evaluate("window.notReloaded") is None
    assert lost(phone) == [
        f"Not saved: {first} (the page had to be reloaded). Scan it again.",
        f"Not saved: {second} (the page had to be reloaded). Scan it again.",
    ]
    said = phone.inner_text("[data-scan-result]")
    assert first in said and second in said
    phone.wait_for_function(
        "() => document.getElementById('announce-urgent').textContent.includes('Not saved')"
    )
    assert status_of(first) == status_of(second) == LineStatus.PENDING

    # Scanned again with the page's new token: saved, and off the list.
    scan(phone, first)
    phone.wait_for_function("() => document.querySelectorAll('[data-scan-lost] li').length === 1")
    assert status_of(first) == LineStatus.FOUND
    assert second in lost(phone)[0]
    phone.reload()  # said once only
    assert phone.locator("[data-scan-lost]").is_hidden()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_scan_sent_once_signed_out_is_named_after_signing_in_again(live_server, phone, branch):  # noqa: F811
    run, (barcode,) = a_run(branch, ["Session finie"])
    open_picking(phone, live_server.url, run, branch)
    phone.context.clear_cookies(name="sessionid")  # the session's hours are over

    with phone.expect_navigation():
        scan(phone, barcode)  # answered by the sign-in page: the page reloads onto it
    phone.wait_for_selector("#id_username")
    phone.fill("#id_username", "rayon")
    phone.fill("#id_password", "motdepasse-demo")
    with phone.expect_navigation():
        phone.click("main form button[type=submit]")

    assert f"/staff/picking/runs/{run.pk}/pick/" in phone.url
    phone.wait_for_selector("[data-scan-lost] li")
    assert lost(phone) == [f"Not saved: {barcode} (the page had to be reloaded). Scan it again."]
    assert status_of(barcode) == LineStatus.PENDING


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_stalled_scan_is_given_up_and_the_next_one_saved(live_server, phone, branch):  # noqa: F811
    run, (first, second) = a_run(branch, ["Bloqué", "Derrière"])
    phone.clock.install()  # its timers run as time goes, and the 10 s wait is skipped below
    open_picking(phone, live_server.url, run, branch)
    stalled = []

    def stall_first(route):
        if first in (route.request.post_data or ""):
            stalled.append(route)  # never answered: the wifi dropped after sending
        else:
            route.continue_()

    phone.route("**/scan/", stall_first)
    scan(phone, first)
    phone.wait_for_timeout(300)
    scan(phone, second)
    assert phone.locator("[data-scan-sending]").is_visible()

    phone.clock.run_for(10_500)  # the first's time limit
    phone.wait_for_function("() => document.querySelector('[data-scan-sending]').hidden")
    assert lost(phone) == [f"No answer: {first} may not have been saved. Scan it again."]
    assert status_of(second) == LineStatus.FOUND
    assert phone.locator(f"#line-{PickLine.objects.get(copy__barcode=second).pk}").count() == 0
    for route in stalled:
        route.abort()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_scans_lost_offline_are_each_named_and_kept_until_scanned_again(live_server, phone, branch):  # noqa: F811
    run, (first, second) = a_run(branch, ["Hors ligne", "Sans réseau"])
    open_picking(phone, live_server.url, run, branch)
    phone.context.set_offline(True)
    scan(phone, first)
    scan(phone, second)
    phone.wait_for_function("() => document.querySelectorAll('[data-scan-lost] li').length === 2")
    phone.wait_for_timeout(300)
    assert lost(phone) == [
        f"No connection: {first} may not have been saved. Scan it again.",
        f"No connection: {second} may not have been saved. Scan it again.",
    ]
    assert second in phone.inner_text("[data-scan-result]")
    assert phone.locator("[data-scan-lost]").is_visible()

    phone.context.set_offline(False)
    scan(phone, second)
    phone.wait_for_function(
        "() => document.querySelector('[data-scan-result]').className.includes('success')"
    )
    assert lost(phone) == [f"No connection: {first} may not have been saved. Scan it again."]
    assert status_of(first) == LineStatus.PENDING and status_of(second) == LineStatus.FOUND


# The door's list of who is at the door (desk.js) ---------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_door_list_says_since_when_it_is_not_updated(live_server, desktop, branch):  # noqa: F811
    base = live_server.url
    patron = make_patron(branch, card="20690077", first_name="Aïcha", last_name="Benali")
    (ready,) = make_ready_requests(patron, branch, ["Attend dehors"])
    staff("accueil", Role.DOOR_DESK, branch)
    sign_in(desktop, base, "accueil")
    # The fake clock starts a second into a minute: the time the page keeps when it loads
    # and the one read below fall in the same minute (a real clock could cross one).
    desktop.clock.install(time=(int(time.time()) // 60 * 60 + 1) * 1000)
    door = f"{base}/en/staff/door/{branch.pk}/"
    desktop.goto(door)
    desktop.evaluate("window.notReloaded = true")
    stale = desktop.locator("[data-arrivals-stale]")
    assert stale.get_attribute("role") == "status" and stale.inner_text() == ""
    since = desktop.evaluate(
        "() => { const d = new Date(); return String(d.getHours()).padStart(2, '0') + ':' +"
        " String(d.getMinutes()).padStart(2, '0'); }"
    )

    # The network drops: one round missed is not said, two are.
    desktop.route(door, lambda route: route.abort())
    desktop.clock.run_for(20_500)
    desktop.wait_for_timeout(300)
    assert stale.inner_text() == ""
    desktop.clock.run_for(20_000)
    desktop.wait_for_function("() => document.querySelector('[data-arrivals-stale]').textContent.length > 0")
    assert stale.inner_text() == (
        f"List not updated since {since}: no answer from the server. The page tries again every 20 seconds."
    )
    desktop.unroute(door)

    # The session ends (signed out in another tab, or its hours are over), and a patron
    # says "I'm here": the page says so at the next round, with a way to sign in again.
    cookies = desktop.context.cookies()
    desktop.context.clear_cookies(name="sessionid")
    Appointment.objects.create(bag=ready.bag, state=Appointment.State.ARRIVED, arrived_at=timezone.now())
    desktop.clock.run_for(20_000)
    desktop.wait_for_function(
        "() => document.querySelector('[data-arrivals-stale]').textContent.includes('signed out')"
    )
    assert stale.inner_text() == f"List not updated since {since}: you have been signed out. Sign in again"
    link = stale.get_by_role("link", name="Sign in again")
    assert link.get_attribute("href") == f"/en/staff/login/?next=/en/staff/door/{branch.pk}/"
    assert "Benali" not in desktop.inner_text("[data-arrivals-part=arrivals]")

    # Signed in again (another tab): the next round brings the list, and the notice goes.
    desktop.context.add_cookies([c for c in cookies if c["name"] == "sessionid"])
    desktop.clock.run_for(20_000)
    desktop.wait_for_function(
        "() => document.querySelector('[data-arrivals-part=arrivals]').textContent.includes('Benali')"
    )
    assert stale.inner_text() == ""
    assert desktop.evaluate("window.notReloaded") is True
