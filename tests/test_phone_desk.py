import datetime
import shutil
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emporter.catalogue.models import CopyStatus
from emporter.holds.models import Channel, Request, RequestEvent, RequestPolicy, Status
from emporter.holds.services import place_request
from emporter.network.models import ServiceMode
from emporter.patrons.models import Role, StaffRole
from emporter.patrons.search import find_patrons, patrons_named, phone_variants
from tests.conftest import make_patron, make_record

FIND = "/staff/phone/"


def make_staff(username="standard", role=Role.PHONE_DESK, branch=None):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


@pytest.fixture
def desk(client, branch):
    """A client signed in as a phone-desk librarian of ``branch``."""
    client.force_login(make_staff(branch=branch))
    return client


def patron_url(patron, action=""):
    return f"/staff/phone/patrons/{patron.pk}/{action}"


def add_all(client, patron, records):
    for record in records:
        response = client.post(patron_url(patron, "add/"), {"record": record.pk, "q": "x"})
        assert response.status_code == 302


def confirm_form(client, patron):
    """The confirmation form exactly as the page renders it."""
    page = client.get(patron_url(patron))
    return {
        "confirm_key": page.context["confirm_key"],
        "record": [record.pk for record, _ in page.context["basket"]],
        "pickup_branch": page.context["pickup"].pk,
    }


def test_patron_found_by_phone_in_another_format_gets_three_phone_requests(desk, branch):
    patron = make_patron(branch, phone="06 12 34 56 78")
    make_patron(branch, card="10000002", phone="06 12 34 56 79")
    found = desk.get(FIND, {"q": "+33 6 12 34 56 78"})
    assert found.status_code == 302
    assert found["Location"] == patron_url(patron)
    records = [make_record(title=f"Roman {n}", copies=[branch]) for n in range(3)]
    add_all(desk, patron, records)
    response = desk.post(patron_url(patron, "confirm/"), confirm_form(desk, patron), follow=True)
    requests = Request.objects.filter(patron=patron)
    assert requests.count() == 3
    assert {r.channel for r in requests} == {Channel.PHONE}
    assert {r.placed_by.username for r in requests} == {"standard"}
    assert {r.status for r in requests} == {Status.PLACED}
    active_requests = response.content.decode().split('id="requests"')[1]
    assert active_requests.count("· Téléphone") == 3  # the channel, shown on each request
    assert response.context["basket"] == []
    # What the librarian reads out: where the copy is, said to be its call number.
    call_number = requests[0].copy.call_number
    said = f"Mis de côté\u00a0: cote {call_number}, à {branch.name}."
    assert call_number and said in response.content.decode()


def test_a_refusal_shows_the_french_message_and_the_rest_goes_through(desk, branch, patron):
    RequestPolicy.objects.create(max_active=2)
    records = [make_record(title=f"Album {n}", copies=[branch]) for n in range(3)]
    add_all(desk, patron, records)
    response = desk.post(patron_url(patron, "confirm/"), confirm_form(desk, patron), follow=True)
    assert Request.objects.filter(patron=patron).count() == 2
    outcomes = response.context["outcomes"]
    assert [o["ok"] for o in outcomes] == [True, True, False]
    assert outcomes[2]["code"] == "limit_reached"
    html = response.content.decode()
    assert "Album 2</strong> — Vous avez déjà 2 réservations en cours, le maximum autorisé." in html
    # The refused document stays in the basket: nothing the librarian typed is lost.
    assert [record.pk for record, _ in response.context["basket"]] == [records[2].pk]


def test_a_double_submit_creates_nothing_twice(desk, branch, patron):
    add_all(desk, patron, [make_record(title=t, copies=[branch, branch]) for t in ("Un", "Deux")])
    form = confirm_form(desk, patron)
    desk.post(patron_url(patron, "confirm/"), form)
    second = desk.post(patron_url(patron, "confirm/"), form, follow=True)
    assert Request.objects.filter(patron=patron).count() == 2
    assert RequestEvent.objects.filter(request__patron=patron).count() == 2
    assert [o["ok"] for o in second.context["outcomes"]] == [True, True]


def test_a_new_confirmation_form_is_a_new_confirmation(desk, branch, patron):
    record = make_record(copies=[branch, branch])
    add_all(desk, patron, [record])
    desk.post(patron_url(patron, "confirm/"), confirm_form(desk, patron))
    form = confirm_form(desk, patron) | {"record": [record.pk]}
    response = desk.post(patron_url(patron, "confirm/"), form, follow=True)
    assert response.context["outcomes"][0]["code"] == "already_requested"
    assert Request.objects.filter(patron=patron).count() == 1


def test_anonymous_visitors_are_sent_to_the_staff_sign_in(client, branch, patron):
    response = client.get(patron_url(patron))
    assert response.status_code == 302
    assert response["Location"].startswith("/staff/login/?next=")


def test_a_patron_signed_in_gets_403_and_places_nothing(client, branch, patron):
    client.force_login(patron.user)
    record = make_record(copies=[branch])
    assert client.get(FIND, {"q": patron.card_number}).status_code == 403
    form = {"confirm_key": "a" * 32, "record": [record.pk], "pickup_branch": branch.pk}
    assert client.post(patron_url(patron, "confirm/"), form).status_code == 403
    assert not Request.objects.exists()


def test_staff_with_another_role_gets_403(client, branch, patron):
    client.force_login(make_staff(role=Role.PICKER, branch=branch))
    assert client.get(patron_url(patron)).status_code == 403


def test_phone_desk_cannot_place_for_pickup_outside_their_branch(desk, branch, other_branch, patron):
    record = make_record(copies=[other_branch])
    add_all(desk, patron, [record])
    form = confirm_form(desk, patron)
    assert [b.pk for b in desk.get(patron_url(patron)).context["pickup_options"]] == [branch.pk]
    response = desk.post(
        patron_url(patron, "confirm/"), form | {"pickup_branch": other_branch.pk}, follow=True
    )
    assert not Request.objects.exists()
    assert "Croix-Rousse" in str(list(response.context["messages"])[0])
    assert [r.pk for r, _ in response.context["basket"]] == [record.pk]


@pytest.mark.parametrize("role", [Role.PHONE_DESK, Role.NETWORK_ADMIN])
def test_network_wide_staff_may_place_for_any_pickup_branch(client, branch, other_branch, patron, role):
    client.force_login(make_staff(role=role, branch=None))
    add_all(client, patron, [make_record(copies=[other_branch])])
    form = confirm_form(client, patron) | {"pickup_branch": other_branch.pk}
    client.post(patron_url(patron, "confirm/"), form)
    assert Request.objects.get(patron=patron).pickup_branch == other_branch


def test_the_home_branch_is_the_default_pickup_and_open_branches_are_not_offered(
    client, branch, other_branch
):
    other_branch.service_mode = ServiceMode.OPEN  # normal service: no click and collect there
    other_branch.save()
    client.force_login(make_staff(branch=None))
    patron = make_patron(other_branch)
    page = client.get(patron_url(patron))
    assert [b.pk for b in page.context["pickup_options"]] == [branch.pk]
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    assert client.get(patron_url(patron)).context["pickup"] == other_branch


def test_a_branch_manager_with_phone_duty_may_place_for_the_branch_they_manage(client, branch, other_branch):
    user = make_staff(branch=branch)
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=other_branch)
    client.force_login(user)
    patron = make_patron(branch)
    options = client.get(patron_url(patron)).context["pickup_options"]
    assert {b.pk for b in options} == {branch.pk, other_branch.pk}


def test_name_look_up_ignores_accents_case_and_word_order(db, branch):
    helene = make_patron(branch, card="1", first_name="Hélène", last_name="Dupré")
    hector = make_patron(branch, card="2", first_name="Hector", last_name="Durand")
    assert find_patrons("helene dup") == [helene]
    assert find_patrons("DUPRE HÉL") == [helene]
    assert find_patrons("hé dur") == [hector]
    assert find_patrons("dur dup") == []
    laetitia = make_patron(branch, card="3", first_name="Lætitia", last_name="Lœuvre")
    assert find_patrons("laetitia loeuvre") == find_patrons("LŒUVRE") == [laetitia]
    assert find_patrons("Zoé") == []


def test_several_matches_are_listed_for_the_librarian_to_choose(desk, branch):
    make_patron(branch, card="1", first_name="Léa", last_name="Martin")
    make_patron(branch, card="2", first_name="Lou", last_name="Martin")
    response = desk.get(FIND, {"q": "martin"})
    assert response.status_code == 200
    assert len(response.context["patrons"]) == 2
    assert "Léa" in response.content.decode() and "Lou" in response.content.decode()


def test_name_look_up_uses_the_trigram_index(postgres, branch):
    make_patron(branch, first_name="Hélène", last_name="Dupré")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the index the way
    assert "phonedesk_patron_name_trgm" in patrons_named("dupré hél").explain()


def test_a_name_look_up_needs_three_letters(desk, branch):
    make_patron(branch, first_name="Li", last_name="Wu")
    response = desk.get(FIND, {"q": "li wu"})
    assert response.context["patrons"] == []
    assert response.context["too_short"]


def test_card_number_goes_straight_to_the_patron(desk, branch):
    patron = make_patron(branch, card="29001234")
    make_patron(branch, card="29001235")
    assert desk.get(FIND, {"q": " 2900 1234 "})["Location"] == patron_url(patron)


def test_nobody_found_says_so(desk, branch, patron):
    response = desk.get(FIND, {"q": "07 00 00 00 00"})
    assert response.status_code == 200
    assert response.context["patrons"] == []


@pytest.mark.parametrize(
    "typed", ["0612345678", "06.12.34.56.78", "+33 6 12 34 56 78", "+33 (0)6 12 34 56 78", "0033612345678"]
)
def test_phone_numbers_in_any_format_have_the_same_variants(typed):
    digits = "".join(c for c in typed if c.isdigit())
    assert {"0612345678", "33612345678"} <= phone_variants(digits)


@pytest.mark.parametrize("stored", ["+33 6 12 34 56 78", "06-12-34-56-78"])
def test_a_phone_stored_in_either_format_is_found(db, branch, stored):
    patron = make_patron(branch, phone=stored)
    assert find_patrons("06 12 34 56 78") == [patron]
    assert find_patrons("+33612345678") == [patron]


def test_catalogue_search_shows_availability_at_home_and_elsewhere(desk, branch, other_branch, patron):
    make_record(title="Les Misérables", copies=[branch, other_branch])
    make_record(title="Misérables au soleil", copies=[other_branch])
    make_record(title="Les misérables en BD", copies=[(branch, "on_loan")])
    response = desk.get(patron_url(patron), {"q": "miserables"})
    where = {hit.record.title: hit.availability for hit in response.context["hits"]}
    assert (where["Les Misérables"].here, where["Les Misérables"].elsewhere) == (1, ["Croix-Rousse"])
    assert (where["Misérables au soleil"].here, where["Misérables au soleil"].elsewhere) == (
        0,
        ["Croix-Rousse"],
    )
    assert not where["Les misérables en BD"].any


def test_blocked_and_expired_cards_are_shown_prominently(desk, branch):
    patron = make_patron(branch, blocked_reason="Retards", card_expires="2020-01-31")
    html = desk.get(patron_url(patron)).content.decode()
    assert html.count('role="alert"') == 2
    assert "Retards" in html


def test_staff_cancel_with_a_reason_frees_the_copy(desk, branch, patron):
    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    url = patron_url(patron, f"requests/{hold.pk}/cancel/")
    desk.post(url, {"reason": "  "})
    hold.refresh_from_db()
    assert hold.status == Status.PLACED  # no reason, nothing done
    desk.post(url, {"reason": "Demandé au téléphone"})
    hold.refresh_from_db()
    assert hold.status == Status.CANCELLED
    event = hold.events.last()
    assert (event.reason, event.note, event.actor.username) == ("staff", "Demandé au téléphone", "standard")
    hold.copy.refresh_from_db()
    assert hold.copy.status == CopyStatus.ON_SHELF


def test_a_cancel_the_caller_asked_for_is_theirs_and_tells_them_nothing(desk, branch, patron):
    from emporter.notices import compose
    from emporter.notices.models import Kind, Notice

    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    page = desk.get(patron_url(patron)).content.decode()
    assert 'name="asked" value="1" checked' in page  # the usual case, ticked
    desk.post(
        patron_url(patron, f"requests/{hold.pk}/cancel/"), {"reason": "Ne peut pas venir", "asked": "1"}
    )
    hold.refresh_from_db()
    event = hold.events.last()
    assert (hold.status, event.reason, event.note) == (Status.CANCELLED, "patron", "Ne peut pas venir")
    compose.compose_all(timezone.now() + datetime.timedelta(minutes=5))
    assert not Notice.objects.filter(patron=patron, kind=Kind.CANCELLED).exists()


def test_phone_desk_cannot_cancel_a_request_for_another_branch(desk, branch, other_branch, patron):
    hold, _ = place_request(
        patron=patron, record_id=make_record(copies=[other_branch]).pk, pickup_branch=other_branch
    )
    desk.post(patron_url(patron, f"requests/{hold.pk}/cancel/"), {"reason": "Erreur"})
    hold.refresh_from_db()
    assert hold.status == Status.PLACED


def test_a_tampered_or_empty_confirmation_places_nothing(desk, branch, patron):
    record = make_record(copies=[branch])
    for form in (
        {"confirm_key": "not-a-key", "record": [record.pk], "pickup_branch": branch.pk},
        {"confirm_key": "b" * 32, "record": ["x"], "pickup_branch": branch.pk},
        {"confirm_key": "b" * 32, "record": [record.pk], "pickup_branch": "nowhere"},
    ):
        assert desk.post(patron_url(patron, "confirm/"), form).status_code == 302
    assert not Request.objects.exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def press_access_key(page, letter):
    """Alt+letter as a real keyboard sends it: Playwright's press("Alt+c") leaves out the
    key's text, which Chromium needs to match an accesskey."""
    cdp = page.context.new_cdp_session(page)
    event = {"modifiers": 1, "key": letter, "code": f"Key{letter.upper()}", "text": letter}
    cdp.send("Input.dispatchKeyEvent", event | {"type": "keyDown", "unmodifiedText": letter})
    cdp.send("Input.dispatchKeyEvent", event | {"type": "keyUp"})


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM, reason="needs a Chromium binary (apt-get install chromium)")
def test_a_whole_call_by_keyboard_only(live_server, client, branch, monkeypatch):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are
    # plain synchronous test code, which Django would otherwise refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    patron = make_patron(branch, phone="06 12 34 56 78")
    for n in range(4):
        make_record(title=f"Roman policier {n}", copies=[branch])
    client.force_login(make_staff(branch=branch))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
        )
        page = context.new_page()
        page.goto(live_server.url + FIND)
        page.keyboard.type("+33 6 12 34 56 78")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**{patron_url(patron)}")
        page.keyboard.type("roman policier")
        page.keyboard.press("Enter")
        page.wait_for_selector("ul.hits")
        page.wait_for_load_state("load")  # the page's keyboard script is listening
        # Chromium does not always honour autofocus on a page reached by a form (seen in
        # full runs): then the agent does what a person would, "/" to the search box.
        if not page.evaluate("document.activeElement.matches('input[type=search]')"):
            page.keyboard.press("/")
        page.keyboard.press("ArrowDown")  # from the search box to the first result
        for _ in range(3):
            # The page's script puts the focus there; pressing Enter before it has would
            # only resubmit the search.
            page.wait_for_function("() => document.activeElement?.closest('ul.hits')")
            with page.expect_navigation():
                page.keyboard.press("Enter")  # adds it; focus comes back on the next result
        assert page.locator("#basket li").count() == 3
        page.keyboard.press("Escape")
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "q"
        with page.expect_navigation():
            press_access_key(page, "c")
        assert page.locator("#outcomes li.ok").count() == 3
        browser.close()
    requests = Request.objects.filter(patron=patron)
    assert len({r.record_id for r in requests}) == 3  # three different documents, once each
    assert {r.channel for r in requests} == {Channel.PHONE}


def test_the_patron_page_costs_the_same_queries_whatever_it_shows(desk, branch, other_branch, patron):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert desk.get(patron_url(patron), {"q": "dumas"}).status_code == 200
        return len(captured)

    add_all(desk, patron, [make_record(title="Dumas 0", responsibility="Dumas", copies=[branch])])
    few = queries()
    for n in range(1, 10):
        record = make_record(title=f"Dumas {n}", responsibility="Dumas", copies=[branch, other_branch])
        if n < 7:
            place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
        else:
            add_all(desk, patron, [record])
    assert queries() == few


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_at_the_same_instant_creates_nothing_twice(postgres, branch, patron):
    staff = make_staff(branch=branch)
    records = [make_record(title=f"Tome {n}", copies=[branch, branch]) for n in range(3)]
    form = {"confirm_key": "c" * 32, "record": [r.pk for r in records], "pickup_branch": branch.pk}
    clients = [Client() for _ in range(4)]
    for c in clients:
        c.force_login(staff)
    barrier = threading.Barrier(len(clients))
    statuses = []

    def submit(c):
        try:
            barrier.wait()
            statuses.append(c.post(patron_url(patron, "confirm/"), form).status_code)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=submit, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [302] * 4
    assert Request.objects.filter(patron=patron).count() == 3
    # Every submission is told "placed", none "already requested": they were replays.
    for c in clients:
        assert [o["ok"] for o in c.get(patron_url(patron)).context["outcomes"]] == [True] * 3
    assert RequestEvent.objects.filter(request__patron=patron).count() == 3


def test_who_opened_which_patron_is_kept(desk, patron, caplog):
    """Any phone librarian may open any patron of the network: the audit log says who."""
    with caplog.at_level("INFO", logger="emporter.audit"):
        desk.get(patron_url(patron))
    (record,) = [r for r in caplog.records if r.name == "emporter.audit"]
    user = desk.get(patron_url(patron)).wsgi_request.user
    assert record.getMessage() == f"phone desk: {user.pk} opened patron {patron.pk}"
