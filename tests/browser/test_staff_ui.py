"""Staff screens in a browser: a long call number fits a 360 px pick list, flash messages
line up with the page, and Esc on the phone desk readies the search box for the next
title (found by a walkthrough)."""

import datetime

import pytest

from emporter.patrons.models import Role
from tests.conftest import make_branch, make_patron, make_record
from tests.test_staff_ui_fixes import a_run, staff

# ---- in a browser: layout at 360 px and the phone desk's Esc ----


def new_page(chromium, width, height):
    return chromium.new_context(viewport={"width": width, "height": height}, locale="fr-FR").new_page()


def sign_in(page, base, username):
    page.goto(f"{base}/staff/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "motdepasse-demo")
    with page.expect_navigation():
        page.click("main form button[type=submit]")


LONG_CALL_NUMBERS = [
    "ML 3561 J3 F73 l966",  # the one from the walkthrough
    "ML 3561 J3 F73 l966 v.2 ex.3 suppl.",  # longer: must wrap, not be cut off
    "MUS.781.64.BLUES.CHICAGO.1955-1960",  # one token wider than the card
]


# The parts of these call numbers that a line break cuts in two.
CUT_PARTS = """wanted => {
  const cut = [];
  for (const cote of document.querySelectorAll(".pick-line .cote")) {
    if (!wanted.includes(cote.textContent.trim())) continue;
    const text = cote.firstChild;
    for (const m of text.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(text, m.index);
      range.setEnd(text, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width).map(r => Math.round(r.top)));
      if (tops.size > 1) cut.push(m[0]);
    }
  }
  return cut;
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_long_call_numbers_fit_a_360px_pick_list_and_messages_line_up(live_server, chromium):
    branch = make_branch(weekdays=range(7), pick_time=datetime.time(23, 59))
    run = a_run(branch, LONG_CALL_NUMBERS + ["R BLU"])
    staff("picker", Role.PICKER, branch)
    page = new_page(chromium, 360, 740)
    try:
        sign_in(page, live_server.url, "picker")
        page.goto(f"{live_server.url}/staff/picking/runs/{run.pk}/pick/")
        assert page.locator(".pick-line").count() == 4
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        geometry = page.evaluate(
            """() => [...document.querySelectorAll('.pick-line')].map(card => {
                 const cote = card.querySelector('.cote');
                 const box = card.getBoundingClientRect(), text = cote.getBoundingClientRect();
                 return {text: cote.textContent.trim(), card: [box.left, box.right],
                         cote: [text.left, text.right], scroll: cote.scrollWidth - cote.clientWidth,
                         size: parseFloat(getComputedStyle(cote).fontSize),
                         h2: document.querySelector('main h2').getBoundingClientRect().left};
               })"""
        )
        for line in geometry:
            # All of the call number inside its card: nothing hidden or sticking out.
            assert line["card"][0] <= line["cote"][0] and line["cote"][1] <= line["card"][1], line
            assert line["scroll"] <= 0, line
            # Still big enough to read walking, and no list indent before the cards.
            assert line["size"] >= 24, line
            assert abs(line["card"][0] - line["h2"]) <= 1, line
        # A call number made of parts wraps between them, never inside one.
        assert page.evaluate(CUT_PARTS, LONG_CALL_NUMBERS[:2]) == []

        # Marking a line (plain form) says so in a flash message, aligned with the page.
        page.locator(".pick-line", has_text="R BLU").locator("button.found").click()
        page.wait_for_selector(".messages li")
        left = page.evaluate(
            """() => [document.querySelector('.messages li').getBoundingClientRect().left,
                      document.querySelector('main h2').getBoundingClientRect().left]"""
        )
        assert abs(left[0] - left[1]) <= 1, left
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        page.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_escape_from_a_phone_desk_result_selects_the_search_text(live_server, chromium):
    branch = make_branch()
    patron = make_patron(branch)
    make_record(title="Anthologie du blues", copies=[branch])
    staff("phone", Role.PHONE_DESK)
    page = new_page(chromium, 1280, 900)
    try:
        sign_in(page, live_server.url, "phone")
        page.goto(f"{live_server.url}/staff/phone/patrons/{patron.pk}/?q=blues")
        box = page.locator("#q")
        box.focus()
        page.keyboard.press("ArrowDown")  # to the first result's "Add"
        assert page.evaluate("document.activeElement.matches('[data-nav-item]')")
        page.keyboard.press("Escape")
        assert page.evaluate("document.activeElement.id") == "q"
        page.keyboard.type("jazz")
        assert box.input_value() == "jazz"  # replaced, not « bluesjazz »
    finally:
        page.context.close()
