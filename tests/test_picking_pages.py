import datetime
import html
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from emporter.catalogue.callnumber import sort_key
from emporter.catalogue.models import CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import Request, Status
from emporter.holds.services import place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.picking.models import LineStatus, PickRun
from tests.conftest import make_department, make_location, make_patron, make_record


def make_picker(branch, username="picker"):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    return user


@pytest.fixture
def picker_client(client, branch):
    client.force_login(make_picker(branch))
    return client


def place(patron, record, pickup):
    """A request placed yesterday, so it is on this morning's run whatever the hour."""
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=pickup)
    Request.objects.filter(pk=request.pk).update(placed_at=timezone.now() - datetime.timedelta(days=1))
    request.refresh_from_db()
    return request


def shelve(record, location, call_number):
    record.copies.update(
        location=location,
        department=location.department,
        call_number=call_number,
        call_number_key=sort_key(call_number),
    )


def morning_run(branch):
    return picking.build_run(branch=branch)


def test_scanning_a_barcode_marks_it_found_and_the_request_ready(picker_client, patron, branch):
    request = place(patron, make_record(title="Les Misérables", copies=[branch]), branch)
    run = morning_run(branch)
    response = picker_client.post(
        reverse("picking:scan", args=[run.pk]), {"barcode": f" {request.copy.barcode} "}, follow=True
    )
    request.refresh_from_db()
    assert request.status == Status.READY
    assert run.lines.get().status == LineStatus.FOUND
    assert request.bag.label in response.content.decode()
    assert "0 / 1" in response.content.decode()


def test_scanning_from_the_page_script_answers_in_json(picker_client, patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    run = morning_run(branch)
    url = reverse("picking:scan", args=[run.pk])
    found = picker_client.post(url, {"barcode": request.copy.barcode}, headers={"Accept": "application/json"})
    assert found.status_code == 200
    body = found.json()
    assert (body["ok"], body["line"], body["left"], body["total"]) == (True, run.lines.get().pk, 0, 1)
    request.refresh_from_db()
    assert request.bag.label in body["message"]
    again = picker_client.post(url, {"barcode": request.copy.barcode}, headers={"Accept": "application/json"})
    assert again.status_code == 409
    assert again.json()["ok"] is False and request.copy.barcode in again.json()["message"]


def test_a_wrong_barcode_is_refused_with_the_message_in_french(picker_client, patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    run = morning_run(branch)
    response = picker_client.post(reverse("picking:scan", args=[run.pk]), {"barcode": "NOPE"}, follow=True)
    with translation.override("fr"):
        expected = ServiceError("unknown_barcode", barcode="NOPE").message
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert escape(expected) in html
    assert "Aucun exemplaire" in html
    assert run.lines.get().status == LineStatus.PENDING
    request.refresh_from_db()
    assert request.status == Status.PLACED


def test_a_copy_of_another_list_is_refused(picker_client, patron, branch):
    place(patron, make_record(copies=[branch]), branch)
    stranger = make_record(title="Autre", copies=[branch]).copies.get()
    run = morning_run(branch)
    picker_client.post(reverse("picking:scan", args=[run.pk]), {"barcode": stranger.barcode})
    stranger.refresh_from_db()
    assert stranger.status == CopyStatus.ON_SHELF
    assert run.lines.get().status == LineStatus.PENDING


def test_not_found_with_a_reason_through_the_form(picker_client, patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    response = picker_client.post(
        reverse("picking:mark", args=[line.pk]),
        {"action": "not_found", "reason": "damaged", "note": "couverture arrachée"},
    )
    assert response.status_code == 302
    line.refresh_from_db()
    request.refresh_from_db()
    assert line.status == LineStatus.NOT_FOUND
    assert (line.cause, line.reason) == ("damaged", "couverture arrachée")
    assert line.reason_text == "Abîmé\u00a0: couverture arrachée"  # French typography, in French
    assert request.status == Status.NOT_FOUND
    assert request.copy.status == CopyStatus.MISSING


def test_not_found_says_where_the_other_copy_on_the_list_is(picker_client, patron, branch):
    record = make_record(title="Jumeaux", copies=[branch, branch])
    record.copies.update(call_number="R JUM")
    record.copies.filter(pk=record.copies.order_by("pk").last().pk).update(call_number="R JUM 2")
    place(patron, record, branch)
    run = morning_run(branch)
    line = run.lines.get()
    with translation.override("en"):
        url = reverse("picking:mark", args=[line.pk])
    response = picker_client.post(url, {"action": "not_found", "reason": "damaged"}, follow=True)
    other = run.lines.get(status=LineStatus.PENDING)
    assert other.copy != line.copy
    assert (
        f"Another copy is on your list now: {other.copy.call_number} ({other.copy.barcode})." in response.text
    )
    assert other.copy.call_number in ("R JUM", "R JUM 2")


def test_other_reason_without_details_is_refused_and_nothing_is_marked(picker_client, patron, branch):
    place(patron, make_record(copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    response = picker_client.post(
        reverse("picking:mark", args=[line.pk]), {"action": "not_found", "reason": "other", "note": " "}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'class="errors"' in html
    assert 'value="other" required checked' in html
    line.refresh_from_db()
    assert line.status == LineStatus.PENDING
    # The error box takes the focus (not the scan box), the details field points at it.
    assert 'class="errors" role="alert" tabindex="-1" autofocus' in html
    scan_box = html[html.index('id="barcode"') :].split(">")[0]
    assert "autofocus" not in scan_box
    note = html[html.index(f'id="note-{line.pk}"') :].split(">")[0]
    assert 'aria-invalid="true" aria-describedby="id_note_error"' in note
    assert 'id="id_note_error"' in html and f'#line-{line.pk}"' not in html


def test_tapping_found_on_a_line(picker_client, patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    picker_client.post(reverse("picking:mark", args=[line.pk]), {"action": "found"})
    request.refresh_from_db()
    assert request.status == Status.READY


def test_the_second_picker_is_told_the_line_was_already_marked(client, patron, branch):
    place(patron, make_record(copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    client.force_login(make_picker(branch, "first"))
    client.post(reverse("picking:mark", args=[line.pk]), {"action": "found"})
    client.force_login(make_picker(branch, "second"))
    response = client.post(
        reverse("picking:mark", args=[line.pk]), {"action": "not_found", "reason": "shelf"}, follow=True
    )
    with translation.override("fr"):
        assert escape(ServiceError("line_already_marked").message) in response.content.decode()
    line.refresh_from_db()
    assert line.status == LineStatus.FOUND


def test_a_picker_of_another_branch_is_forbidden(client, patron, branch, other_branch):
    request = place(patron, make_record(copies=[branch]), branch)
    run = morning_run(branch)
    line = run.lines.get()
    client.force_login(make_picker(other_branch))
    pages = [
        reverse("picking:run", args=[run.pk]),
        reverse("picking:run_pdf", args=[run.pk]),
        reverse("picking:pick", args=[run.pk]),
        reverse("picking:receive", args=[branch.pk]),
        reverse("picking:labels_pdf", args=[branch.pk]),
    ]
    for url in pages:
        assert client.get(url).status_code == 403, url
    assert (
        client.post(reverse("picking:scan", args=[run.pk]), {"barcode": request.copy.barcode}).status_code
        == 403
    )
    assert client.post(reverse("picking:mark", args=[line.pk]), {"action": "found"}).status_code == 403
    assert client.post(reverse("picking:build", args=[branch.pk])).status_code == 403
    line.refresh_from_db()
    assert line.status == LineStatus.PENDING


def test_signed_out_staff_are_sent_to_the_staff_sign_in(client):
    response = client.get(reverse("picking:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("staff_login"))


def test_a_patron_cannot_open_the_picking_screens(client, patron):
    client.force_login(patron.user)
    assert client.get(reverse("picking:index")).status_code == 403


def test_the_pick_list_is_in_walking_order_with_bag_labels_and_hints(
    picker_client, patron, branch, other_branch
):
    other_branch.service_mode = "click_collect"
    other_branch.save()
    youth = make_department(branch, code="jeunesse", name="Jeunesse", order=1)
    adults = make_department(branch, code="adultes", name="Adultes", order=2)
    albums = make_location(youth, code="albums", name="Albums", order=1, hint="Bacs bleus, par lettre")
    novels = make_location(adults, code="romans", name="Romans", order=1, hint="Au fond à gauche")
    for title, location, cote in [
        ("Zola adulte", novels, "R ZOL"),
        ("Titre B", albums, "E B/SAR"),
        ("Titre A", albums, "E A/SAR"),
    ]:
        record = make_record(title=title, copies=[branch])
        shelve(record, location, cote)
        place(patron, record, branch)
    traveller = make_patron(branch, card="10000002", last_name="Durand")
    leaving = make_record(title="Voyageur", copies=[branch])
    shelve(leaving, novels, "R VOY")
    place(traveller, leaving, other_branch)
    run = morning_run(branch)
    html = picker_client.get(reverse("picking:run", args=[run.pk])).content.decode()
    positions = [html.index(t) for t in ("Titre A", "Titre B", "Voyageur", "Zola adulte")]
    assert positions == sorted(positions)
    assert html.index("Jeunesse") < html.index("Adultes")
    assert "Bacs bleus, par lettre" in html and "Au fond à gauche" in html
    assert "E A/SAR" in html
    assert "M…" in html  # Martin has no bag yet: the shelf of her initial
    assert "→ Croix-Rousse" in html


def test_the_pick_list_shows_the_bag_already_open_for_the_patron(picker_client, patron, branch):
    first = place(patron, make_record(title="Premier", copies=[branch]), branch)
    picking.mark_found(line=morning_run(branch).lines.get())
    first.refresh_from_db()
    place(patron, make_record(title="Second", copies=[branch]), branch)
    run = picking.build_run(branch=branch, kind=PickRun.Kind.LATE)
    html = picker_client.get(reverse("picking:pick", args=[run.pk])).content.decode()
    assert "Second" in html
    assert first.bag.label in html


def test_the_pick_list_page_has_the_print_stylesheet(picker_client, patron, branch):
    place(patron, make_record(copies=[branch]), branch)
    run = morning_run(branch)
    html = picker_client.get(reverse("picking:run", args=[run.pk])).content.decode()
    assert 'href="/static/picking/print.css" media="print"' in html
    assert reverse("picking:run_pdf", args=[run.pk]) in html


def test_the_phone_screen_can_show_one_department(picker_client, patron, branch):
    youth = make_department(branch, code="jeunesse", name="Jeunesse", order=1)
    adults = make_department(branch, code="adultes", name="Adultes", order=2)
    for title, department in [("Pour petits", youth), ("Pour grands", adults)]:
        record = make_record(title=title, copies=[branch])
        shelve(record, make_location(department, code=f"l{department.pk}"), "R A")
        place(patron, record, branch)
    run = morning_run(branch)
    html = picker_client.get(
        reverse("picking:pick", args=[run.pk]), {"department": youth.pk}
    ).content.decode()
    assert "Pour petits" in html and "Pour grands" not in html
    assert 'id="barcode"' in html and "autofocus" in html


def test_the_index_builds_the_morning_run_on_demand_and_shows_progress(picker_client, patron, branch):
    place(patron, make_record(copies=[branch]), branch)
    response = picker_client.post(reverse("picking:build", args=[branch.pk]), {"kind": "morning"})
    run = PickRun.objects.get(branch=branch)
    assert response["Location"] == reverse("picking:run", args=[run.pk])
    assert run.lines.count() == 1
    html = picker_client.get(reverse("picking:index")).content.decode()
    assert reverse("picking:run", args=[run.pk]) in html
    assert 'name="kind" value="late"' in html  # the morning run exists: offer late additions


def test_a_late_list_with_nothing_new_is_not_kept(picker_client, patron, branch):
    place(patron, make_record(copies=[branch]), branch)
    morning_run(branch)
    with translation.override("en"):
        build = reverse("picking:build", args=[branch.pk])
    response = picker_client.post(build, {"kind": "late"}, follow=True)
    assert "Nothing new to pull since the last list." in response.text
    assert list(PickRun.objects.filter(branch=branch).values_list("kind", flat=True)) == ["morning"]
    # With something new, the late list is made and shown.
    late_record = make_record(title="Tard", copies=[branch])
    place_request(patron=patron, record_id=late_record.pk, pickup_branch=branch)
    response = picker_client.post(build, {"kind": "late"})
    late = PickRun.objects.get(branch=branch, kind="late")
    assert late.lines.count() == 1 and response.status_code == 302


def test_receive_puts_an_arriving_copy_in_the_patrons_bag(client, patron, branch, other_branch):
    other_branch.service_mode = "click_collect"
    other_branch.save()
    request = place(patron, make_record(copies=[other_branch]), branch)
    picking.mark_found(line=morning_run(other_branch).lines.get())
    client.force_login(make_picker(branch))
    url = reverse("picking:receive", args=[branch.pk])
    expected = client.get(url).content.decode()
    assert request.copy.barcode in expected and "Croix-Rousse" in expected
    response = client.post(url, {"barcode": request.copy.barcode})
    request.refresh_from_db()
    assert request.status == Status.READY
    assert f'class="big-bag">{request.bag.label}<' in response.content.decode()
    # Scanned again (a scanner's double send, a reload): where it is, not "not expected".
    again = client.post(url, {"barcode": request.copy.barcode})
    assert again.status_code == 200 and "Déjà dans le sac" in again.text and request.bag.label in again.text


def test_missing_report_lists_a_not_found_copy_and_put_back_works(picker_client, patron, branch):
    request = place(patron, make_record(title="Film égaré", doc_type="dvd", copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    picking.mark_not_found(line=line, reason="Pas en rayon")
    html = picker_client.get(reverse("picking:missing"), {"doc_type": "dvd"}).content.decode()
    assert "Film égaré" in html and "Pas en rayon" in html
    assert request.copy.barcode in html
    assert (
        "Film égaré"
        not in picker_client.get(reverse("picking:missing"), {"doc_type": "book"}).content.decode()
    )
    response = picker_client.post(
        reverse("picking:put_back", args=[request.copy.pk]), {"next": "https://elsewhere.example/"}
    )
    assert response["Location"] == reverse("picking:missing")
    request.copy.refresh_from_db()
    assert request.copy.status == CopyStatus.ON_SHELF
    assert request.copy.barcode not in picker_client.get(reverse("picking:missing")).content.decode()


def test_missing_report_hides_other_branches(client, patron, branch, other_branch):
    request = place(patron, make_record(title="Perdu ici", copies=[branch]), branch)
    picking.mark_not_found(line=morning_run(branch).lines.get())
    client.force_login(make_picker(other_branch))
    assert "Perdu ici" not in client.get(reverse("picking:missing")).content.decode()
    assert client.post(reverse("picking:put_back", args=[request.copy.pk])).status_code == 403


def test_the_phone_screen_shows_the_next_lines_and_scans_any(picker_client, patron, branch, monkeypatch):
    from emporter.picking import views

    monkeypatch.setattr(views, "PHONE_LINES", 1)
    novels = make_location(make_department(branch))
    requests = []
    for title, cote in [("Premier du rayon", "R AAA"), ("Dernier du rayon", "R ZZZ")]:
        record = make_record(title=title, copies=[branch])
        shelve(record, novels, cote)
        requests.append(place(patron, record, branch))
    run = morning_run(branch)
    html = picker_client.get(reverse("picking:pick", args=[run.pk])).content.decode()
    assert "Premier du rayon" in html and "Dernier du rayon" not in html
    picker_client.post(reverse("picking:scan", args=[run.pk]), {"barcode": requests[1].copy.barcode})
    requests[1].refresh_from_db()
    assert requests[1].status == Status.READY


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM, reason="needs a Chromium binary (apt-get install chromium)")
def test_a_scanner_picks_on_a_360_px_phone(live_server, client, patron, branch, monkeypatch):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are
    # plain synchronous test code, which Django would otherwise refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    long_title = "Une très longue histoire illustrée des bibliothèques municipales lyonnaises"
    requests = [place(patron, make_record(title=t, copies=[branch]), branch) for t in (long_title, "Court")]
    run = morning_run(branch)
    client.force_login(make_picker(branch))
    # Read before the browser starts: on SQLite, a read from this thread while the live
    # server writes a scan finds the table locked.
    barcodes = [request.copy.barcode for request in requests]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 360, "height": 740}, locale="fr-FR")
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
        )
        page = context.new_page()
        page.goto(live_server.url + reverse("picking:pick", args=[run.pk]))
        assert page.evaluate("document.activeElement.id") == "barcode"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        # A scanner types each barcode and presses Enter, the second one straight after
        # the first: the page saves them in turn without losing a keystroke.
        for barcode in barcodes:
            page.keyboard.type(barcode)
            page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('.progress-line strong').textContent.startsWith('0 / 2')"
        )
        assert page.locator(".pick-lines li").count() == 0
        assert page.locator(".done-lines li").count() == 2
        assert page.evaluate("document.activeElement.id") == "barcode"
        page.keyboard.type("PAS-UN-CODE")
        page.keyboard.press("Enter")
        page.wait_for_selector("[data-scan-result].error")
        assert "PAS-UN-CODE" in page.inner_text("[data-scan-result]")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        browser.close()
    for request in requests:
        request.refresh_from_db()
        assert request.status == Status.READY


def test_absurd_filters_are_ignored_not_crashing(picker_client, patron, branch):
    request = place(patron, make_record(title="Égaré", copies=[branch]), branch)
    run = morning_run(branch)
    huge = "9" * 30
    assert picker_client.get(reverse("picking:pick", args=[run.pk]), {"department": huge}).status_code == 200
    picking.mark_not_found(line=run.lines.get())
    response = picker_client.get(reverse("picking:missing"), {"branch": huge, "doc_type": "nope"})
    assert request.copy.barcode in response.content.decode()


def test_a_missing_copy_put_back_for_a_waiting_request_says_which_bag(picker_client, patron, branch):
    from emporter.holds.services import place_request as place

    record = make_record(copies=[(branch, "missing")])
    waiting, _ = place(patron=patron, record_id=record.pk, pickup_branch=branch)
    copy = record.copies.get()
    response = picker_client.post(reverse("picking:put_back", args=[copy.pk]), follow=True)
    waiting.refresh_from_db()
    assert waiting.status == "ready"
    page = html.unescape(response.content.decode())
    said = f"quelqu’un l’attendait\u00a0: mettez-le dans le sac {waiting.bag.label} ({patron.first_name})"
    assert said in page


def _shelved(branch, patron, cotes):
    for cote in cotes:
        record = make_record(title=f"Cote {cote}", copies=[branch])
        record.copies.update(call_number=cote, call_number_key=sort_key(cote))
        place(patron, record, branch)


def test_the_pick_page_reads_only_the_lines_it_shows(picker_client, patron, branch, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from emporter.picking import views

    monkeypatch.setattr(views, "PHONE_LINES", 3)
    _shelved(branch, patron, ["A", "B", "C", "D", "E"])
    run = morning_run(branch)
    lines = list(picking.walking_order(run.lines.all()))
    for line in lines[:2]:
        picking.mark_found(line=line)
    page = picker_client.get(reverse("picking:pick", args=[run.pk]))
    # The next three to pull, in walking order; the two marked, the latest first.
    assert [line.copy.call_number for line in page.context["pending"]] == ["C", "D", "E"]
    assert [line.copy.call_number for line in page.context["done"]] == ["B", "A"]
    assert (page.context["left"], page.context["total"], page.context["done_count"]) == (3, 5, 2)
    with CaptureQueriesContext(connection) as few:
        picker_client.get(reverse("picking:pick", args=[run.pk]))
    for n in range(4):  # a patron may have 8 requests at most
        _shelved(branch, make_patron(branch, card=f"5000000{n}"), [f"F{n}{m}" for m in range(5)])
    picking.build_run(branch=branch, kind="late")  # 20 more lines, on another run
    for line in PickRun.objects.get(kind="late").lines.all():
        line.run = run
        line.save(update_fields=["run"])
    with CaptureQueriesContext(connection) as many:
        page = picker_client.get(reverse("picking:pick", args=[run.pk]))
    assert len(many) == len(few) and page.context["total"] == 25
    assert len(page.context["pending"]) == 3
    # Lines are read a page at a time (counted, not loaded, beyond it): the next ones' ids,
    # then those lines; the last marked ones.
    reads = [q["sql"] for q in many if 'FROM "picking_pickline"' in q["sql"] and "COUNT(" not in q["sql"]]
    bounded = ("LIMIT 3", '"picking_pickline"."id" IN (')
    assert reads and all(any(b in sql for b in bounded) for sql in reads), reads


def test_a_request_for_a_closed_library_is_not_offered_as_a_late_addition(patron, branch, other_branch):
    from emporter.network.models import ServiceMode
    from emporter.picking import selectors

    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    morning_run(branch)
    late = make_record(title="Tard", copies=[branch])
    place_request(patron=patron, record_id=late.pk, pickup_branch=other_branch)
    assert selectors.off_the_lists(branch) == 1
    other_branch.service_mode = ServiceMode.CLOSED  # no list takes it while that is so
    other_branch.save()
    assert selectors.off_the_lists(branch) == 0
    assert not picking.build_run(branch=branch, kind="late").lines.exists()


def test_not_found_says_nothing_of_another_copy_for_a_closed_library(
    picker_client, patron, branch, other_branch
):
    from emporter.network.models import ServiceMode

    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    place(patron, make_record(title="Jumeaux", copies=[branch, branch]), other_branch)
    run = morning_run(branch)
    other_branch.service_mode = ServiceMode.CLOSED  # since the list was made
    other_branch.save()
    line = run.lines.get()
    with translation.override("en"):
        url = reverse("picking:mark", args=[line.pk])
    response = picker_client.post(url, {"action": "not_found", "reason": "damaged"}, follow=True)
    assert "Another copy" not in response.text and "Not found: “Jumeaux”." in response.text


def test_a_title_ending_in_a_question_mark_is_quoted_not_run_into_a_full_stop(picker_client, patron, branch):
    request = place(patron, make_record(title="Qui a peur du loup ?", copies=[branch]), branch)
    run = morning_run(branch)
    response = picker_client.post(
        reverse("picking:scan", args=[run.pk]), {"barcode": request.copy.barcode}, follow=True
    )
    request.refresh_from_db()
    page = response.content.decode()
    assert "?." not in page
    assert (
        f"Trouvé\u00a0: «\u00a0Qui a peur du loup ?\u00a0». À mettre dans le sac {request.bag.label}." in page
    )


def test_a_copy_found_for_a_request_cancelled_meanwhile_is_shown_back_on_the_shelf(
    picker_client, patron, branch
):
    from emporter.holds.services import cancel_request

    request = place(patron, make_record(title="Annulé", copies=[branch]), branch)
    run = morning_run(branch)
    cancel_request(request=request)
    response = picker_client.post(
        reverse("picking:scan", args=[run.pk]), {"barcode": request.copy.barcode}, follow=True
    )
    assert "la réservation a été annulée, remettez l’exemplaire en rayon" in response.content.decode()
    with translation.override("en"):
        listed = picker_client.get(reverse("picking:run", args=[run.pk])).content.decode()
    assert "back on the shelf" in listed
