"""A 360 px phone: tables never cut a word, phone picking keeps its counts straight,
and the phone desk's "/" shortcut never lands in the query."""

import datetime

import pytest
from django.contrib.auth import get_user_model

from emporter.catalogue.models import Copy
from emporter.holds.services import place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.browser.test_phone_widths import sign_in_staff
from tests.conftest import make_branch, make_department, make_location, make_patron, make_record

pytestmark = pytest.mark.django_db(transaction=True)

# Each word of a table cell must sit on one line: a word whose range spans two lines
# was cut letter-wise (« Cot e », « 36 75 » split from its call number).
CUT_WORDS = """callNumbers => {
  const lines = range =>
    new Set([...range.getClientRects()].filter(r => r.width).map(r => Math.round(r.top))).size;
  const cut = [];
  for (const cell of document.querySelectorAll("main td, main th")) {
    // The header row of a stacked table is there for screen readers only.
    const head = cell.closest("thead");
    if (head && head.getBoundingClientRect().width <= 1) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode());) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        if (lines(range) > 1) cut.push(m[0]);
      }
    }
  }
  // A call number is one token: all of it on one line.
  for (const cell of document.querySelectorAll("main td")) {
    if (!callNumbers.includes(cell.textContent.trim())) continue;
    const range = document.createRange();
    range.selectNodeContents(cell);
    if (lines(range) > 1) cut.push(cell.textContent.trim());
  }
  return cut;
}"""


def staff(username, role, branch=None):
    user = get_user_model().objects.create_user(username=username, password="motdepasse-demo")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


def music_run(titles):
    """A morning run at Part-Dieu whose lines are all in the music department."""
    branch = make_branch(weekdays=range(7), pick_time=datetime.time(23, 59))
    music = make_department(branch, code="musique", name="Musique")
    shelf = make_location(music, code="cd", name="Disques compacts")
    patron = make_patron(branch, last_name="Fournier")
    records = []
    for n, title in enumerate(titles):
        record = make_record(title=title, copies=[branch], doc_type="music")
        Copy.objects.filter(record=record).update(
            call_number=f"781.64 BLU 36 7{n}", department=music, location=shelf
        )
        place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
        records.append(record)
    return branch, picking.build_run(branch=branch), records


TITLES = [
    "Enregistrement musical intégral des sessions de Chicago",
    "Anthologie du blues du Delta",
    "Chansons à retirer",
]


def test_record_page_and_pick_list_cut_no_word_on_a_phone(live_server, phone):
    branch, run, records = music_run(TITLES)
    staff("admin", Role.NETWORK_ADMIN)
    base = live_server.url
    sign_in_staff(phone, base, "admin")
    for url in [f"/catalogue/record/{records[0].pk}/", f"/staff/picking/runs/{run.pk}/"]:
        phone.goto(base + url)
        call_numbers = [record.copies.get().call_number for record in records]
        assert phone.locator("main td", has_text=call_numbers[0]).first.is_visible()
        assert phone.evaluate(CUT_WORDS, call_numbers) == [], url
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360, url
    # The two links above the list are buttons with room around their words.
    for link in phone.locator("main .actions a.button").all():
        padding = link.evaluate("e => parseFloat(getComputedStyle(e).paddingLeft)")
        assert padding >= 6


def test_scanning_the_last_line_updates_tabs_empty_state_and_done_lines(live_server, phone):
    branch, run, records = music_run(TITLES)
    staff("picker", Role.PICKER, branch)
    base = live_server.url
    sign_in_staff(phone, base, "picker")
    phone.goto(f"{base}/staff/picking/runs/{run.pk}/pick/")
    tab = phone.locator(".pick-head .departments a", has_text="Musique")
    assert "(3)" in tab.inner_text()
    assert not phone.locator(".all-done").is_visible()
    # Read before scanning, and one scan answered before the next: the test database
    # (SQLite in memory, shared) refuses a write while another thread reads or writes it.
    copies = {record.pk: record.copies.get() for record in records}
    for n, record in enumerate(records, start=1):
        phone.fill("#barcode", copies[record.pk].barcode)
        phone.press("#barcode", "Enter")
        done = f"() => document.querySelectorAll('.done-lines li').length === {n}"
        phone.wait_for_function(done, polling=100)
    phone.wait_for_function("() => !document.querySelector('.pick-line')", polling=100)
    assert phone.locator(".progress-line strong").inner_text().startswith("0 / 3")
    tabs = "() => /\\(0\\)/.test(document.querySelector('.pick-head .departments').textContent)"
    phone.wait_for_function(tabs, polling=100)
    assert "(0)" in tab.inner_text()
    assert phone.locator(".all-done").is_visible()
    done = phone.locator(".done-lines li").all_inner_texts()
    # Like the lines the server draws: call number, title once, outcome.
    for record in records:
        line = next(text for text in done if record.title in text)
        assert copies[record.pk].call_number in line
        assert line.count(record.title) == 1
    # And the page, reloaded, says the same.
    phone.reload()
    assert "(0)" in tab.inner_text()
    assert phone.locator(".all-done").is_visible()


def phone_desk_searching_blues(live_server, desktop):
    """A librarian at the phone desk, on a patron's page, having searched "blues"."""
    patron = make_patron(make_branch())
    staff("phone", Role.PHONE_DESK)
    sign_in_staff(desktop, live_server.url, "phone")
    desktop.goto(f"{live_server.url}/staff/phone/patrons/{patron.pk}/?q=blues")


def test_slash_in_the_search_field_is_not_typed_into_the_query(live_server, desktop):
    phone_desk_searching_blues(live_server, desktop)
    box = desktop.locator("#q")
    box.focus()
    desktop.keyboard.press("/")
    assert box.input_value() == "blues"
    selected = "() => { const b = document.getElementById('q'); return b.selectionEnd - b.selectionStart; }"
    assert desktop.evaluate(selected) == 5
    desktop.keyboard.type("jazz")
    assert box.input_value() == "jazz"
    # A slash inside a query (AC/DC) is still typed.
    desktop.keyboard.type("/dc")
    assert box.input_value() == "jazz/dc"


def test_when_the_shown_lines_are_all_scanned_the_next_ones_come_in(live_server, phone, monkeypatch):
    monkeypatch.setattr("emporter.picking.views.PHONE_LINES", 2)
    branch, run, records = music_run(TITLES)
    staff("picker", Role.PICKER, branch)
    base = live_server.url
    sign_in_staff(phone, base, "picker")
    # Read before the page, and one scan answered before the next: the test database
    # (SQLite in memory, shared) refuses a read while the server's thread writes
    # ("database table is locked", seen once in the suite).
    barcodes = {copy.call_number: copy.barcode for copy in Copy.objects.filter(record__in=records)}
    phone.goto(f"{base}/staff/picking/runs/{run.pk}/pick/")
    shown = phone.locator(".pick-line .cote").all_inner_texts()
    assert len(shown) == 2 and phone.locator("[data-more-note]").is_visible()
    for n, call_number in enumerate(shown, start=1):
        phone.fill("#barcode", barcodes[call_number])
        phone.press("#barcode", "Enter")
        done = f"() => document.querySelectorAll('.done-lines li').length === {n}"
        phone.wait_for_function(done, polling=100)
    phone.wait_for_function("() => document.querySelectorAll('.pick-line').length === 1", polling=100)
    assert not phone.locator(".all-done").is_visible()
    assert not phone.locator("[data-more-note]").is_visible()


def test_slash_on_a_button_is_not_a_shortcut(live_server, desktop):
    # WCAG 2.1.4: a one-key shortcut works only where nothing else is focused (or in the
    # results); on a button, a speech user's dictated slash would move them away.
    phone_desk_searching_blues(live_server, desktop)
    button = desktop.locator("main button").first
    button.focus()
    desktop.keyboard.press("/")
    assert desktop.evaluate("document.activeElement.id") != "q"
    desktop.evaluate("document.activeElement.blur()")
    desktop.keyboard.press("/")  # nothing focused: the shortcut works
    assert desktop.evaluate("document.activeElement.id") == "q"
