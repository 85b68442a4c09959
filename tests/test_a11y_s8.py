"""Accessibility fixes of the eighth review: what a screen reader hears, where the keyboard
goes, how large a target is. The page structure is read with the Django test client (in
English: the assertions read the msgids); the few behaviours only a browser has (the door
list refreshing itself, a message said after the page loads, a radio group's arrows, a
sticky bar over a focused box) are checked in headless Chromium at the end."""

import datetime
import re
from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from emporter.curbside import services as curbside
from emporter.curbside.models import Appointment, PickupSettings
from emporter.patrons.models import Role
from tests.browser.conftest import chromium, desktop, phone  # noqa: F401 (fixtures)
from tests.browser.test_journey import staff as browser_staff
from tests.browser.test_journey import staff_sign_in
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record
from tests.test_curbside import open_all_day, ready_bag
from tests.test_door_pages import scan, staff, url
from tests.test_phone_desk import make_staff, patron_url
from tests.test_search import catalogue  # noqa: F401 (a fixture)

# A small tree of the page, enough to ask "which element holds which" ---------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def __getitem__(self, name):
        return self.attrs[name]

    def get(self, name, default=None):
        return self.attrs.get(name, default)

    def descendants(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.descendants()

    def all(self, tag=None, **attrs):
        """Descendants with this tag and these attributes (True: present; "class_": one of
        the classes)."""
        found = []
        for node in self.descendants():
            if tag and node.tag != tag:
                continue
            ok = True
            for name, value in attrs.items():
                if name == "class_":
                    ok = ok and value in (node.get("class") or "").split()
                elif value is True:
                    ok = ok and name.replace("_", "-") in node.attrs
                else:
                    ok = ok and node.get(name.replace("_", "-")) == value
            if ok:
                found.append(node)
        return found

    def one(self, tag=None, **attrs):
        (node,) = self.all(tag, **attrs)
        return node

    def by_id(self, id_):
        return self.one(id=id_)

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def raw_text(self):
        return "".join(child.raw_text() if isinstance(child, Node) else child for child in self.children)

    def text(self):
        return re.sub(r"\s+", " ", self.raw_text()).strip()


class TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, [(k, "" if v is None else v) for k, v in attrs], self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, [(k, "" if v is None else v) for k, v in attrs], self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def page(response) -> Node:
    builder = TreeBuilder()
    builder.feed(response.content.decode())
    return builder.root


def static_text(path: str) -> str:
    with open(finders.find(path), encoding="utf-8") as f:
        return f.read()


def contrast(one: str, other: str) -> float:
    def luminance(colour):
        channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.fixture
def door(client, branch):
    client.force_login(staff(Role.DOOR_DESK, branch))
    return client


# 1. The door's list of arrivals is refreshed in place, not by reloading the page ----------


def test_the_door_list_comes_in_parts_that_say_how_many_wait_and_a_link_reloads_it(door, branch, patron):
    open_all_day(branch)
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    curbside.i_am_here(bag=ready_bag(patron, branch, until=timezone.localdate() + datetime.timedelta(days=5)))
    tree = page(door.get(url("desk:door", branch.pk)))
    section = tree.one("section", data_arrivals=True)
    arrivals = section.one(data_arrivals_part="arrivals")
    assert arrivals["data-count"] == "1" and arrivals["data-count-text"] == "1 patron at the door"
    assert "Camille Martin" in arrivals.text()
    section.one(data_arrivals_part="booked")
    # Without the script, a plain link reloads the list.
    (refresh,) = [a for a in section.all("a") if a.get("href") == url("desk:door", branch.pk)]
    assert refresh.text() == "Refresh the list"
    script = static_text("desk/desk.js")
    assert "location.reload" not in script and "fetch(" in script


# 2. Results of actions are said; the door's button says whose bag; errors point at fields --


def test_flash_messages_are_a_list_in_a_status_or_an_alert_with_empty_live_regions(client, patron, branch):
    record = make_record(title="Atlas", copies=[branch])
    back = f"/en/catalogue/record/{record.pk}/"
    added = client.post(f"/en/basket/add/{record.pk}/", {"next": back}, follow=True)
    tree = page(added)
    (status,) = tree.all(data_flash=True)
    assert status["role"] == "status" and status.one("ul").one("li").text() == "“Atlas” is in your basket."
    assert not [ul for ul in tree.all("ul") if ul.get("role")]  # a list keeps its own role
    for region, live in (("announce-polite", "polite"), ("announce-urgent", "assertive")):
        node = tree.by_id(region)
        assert node["aria-live"] == live and node.text() == "" and "visually-hidden" in node["class"]
    assert [s for s in tree.all("script") if s.get("src", "").endswith("emporter/announce.js")]
    assert "announce-polite" in static_text("emporter/announce.js")

    # An error is an alert.
    bag = ready_bag(patron, branch, until=timezone.localdate() + datetime.timedelta(days=5))
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    client.force_login(patron.user)
    refused = client.post(url("curbside:times", bag.pk), {"starts_at": "not a time"}, follow=True)
    (alert,) = page(refused).all(data_flash=True)
    assert alert["role"] == "alert" and alert.one("li")["class"] == "error"


def test_the_hand_over_button_says_whose_bag_and_what_needs_attention(door, branch):
    patron = make_patron(branch, first_name="Sacha", last_name="Moreau")
    requests = make_ready_requests(patron, branch, ["Un"])
    type(patron).objects.filter(pk=patron.pk).update(blocked_reason="Amende")  # since the request
    tree = page(scan(door, branch, patron.card_number))
    button = tree.one("button", autofocus=True)
    described = button["aria-describedby"].split()
    assert described == ["patron-name", "door-bags", "door-attention"]
    assert "Sacha Moreau" in tree.by_id("patron-name").text()
    assert requests[0].bag.label in tree.by_id("door-bags").text()
    assert "Amende" in tree.by_id("door-attention").text()
    # Nothing to attend to: no dangling reference.
    other = make_patron(branch, card="10000002")
    make_ready_requests(other, branch, ["Deux"])
    button = page(scan(door, branch, other.card_number)).one("button", autofocus=True)
    assert button["aria-describedby"] == "patron-name door-bags"


def assert_points_at_error(tree, field_id):
    field = tree.by_id(field_id)
    assert field.get("aria-invalid") == "true"
    (error_id,) = [i for i in field["aria-describedby"].split() if i.endswith("error")]
    assert tree.by_id(error_id).text()


def test_door_returns_and_phone_desk_errors_are_tied_to_their_field(door, client, branch):
    assert_points_at_error(page(scan(door, branch, "99999999")), "card")
    assert_points_at_error(page(door.post(url("desk:returns", branch.pk), {"barcode": "NOPE1"})), "barcode")
    assert "aria-invalid" not in door.get(url("desk:returns", branch.pk)).content.decode()

    client.force_login(make_staff(branch=branch))
    for q in ("zz", "Personne Dunom"):
        tree = page(client.get("/en/staff/phone/", {"q": q}))
        assert_points_at_error(tree, "find-q")
        assert "find-help" in tree.by_id("find-q")["aria-describedby"]
    make_patron(branch, last_name="Dunom")
    found = page(client.get("/en/staff/phone/", {"q": "Dunom"}, follow=True))
    assert "aria-invalid" not in found.by_id("find-q").attrs


# 3 and 10. Search: the facets after the results; "available now" said in words -------------


def test_the_facets_come_after_the_results_and_lead_back_to_them(client, catalogue):  # noqa: F811
    tree = page(client.get("/en/catalogue/", {"q": "roman"}))
    layout = tree.one("div", class_="layout")
    blocks = [c for c in layout.children if isinstance(c, Node)]
    assert [b.tag for b in blocks] == ["section", "aside"]  # results, then facets
    facets = layout.one("aside")
    links = facets.all("a")
    assert links and all(a["href"].endswith("#results-title") for a in links)
    assert tree.by_id("results-title").tag == "h2"
    assert "<style>" not in client.get("/en/catalogue/", {"q": "roman"}).content.decode()  # no CSS order
    assert "grid-template-areas" in static_text("emporter/app.css")


def test_available_now_says_its_state_in_words_not_with_a_drawn_box(client, catalogue):  # noqa: F811
    off = page(client.get("/en/catalogue/", {"q": "roman"})).one("aside").all("a")[0]
    on = page(client.get("/en/catalogue/", {"q": "roman", "available": "on"})).one("aside").all("a")[0]
    for link, glyph in ((off, "☐"), (on, "☑")):
        assert "aria-current" not in link.attrs
        (box,) = [s for s in link.all("span") if glyph in s.text()]
        assert box.get("aria-hidden") == "true"
    assert "active filter" in on.one("span", class_="visually-hidden").text()
    assert "active filter" not in off.text()


# 4. Pickup times: a radio group per day, named by its legend, one button --------------------


def test_each_day_of_pickup_times_is_one_radio_group_with_a_legend_and_one_button(client, patron, branch):
    open_all_day(branch)
    PickupSettings.objects.create(branch=branch, slot_minutes=30, per_slot=6)
    bag = ready_bag(patron, branch, until=timezone.localdate() + datetime.timedelta(days=3))
    client.force_login(patron.user)
    tree = page(client.get(url("curbside:times", bag.pk)))
    days = tree.all("details", class_="slot-day")
    assert len(days) >= 2
    for day in days:
        (form,) = day.all("form")
        fieldset = form.one("fieldset")
        legend = fieldset.one("legend").text()
        assert legend == day.one("summary").text()
        radios = fieldset.all("input", type="radio")
        assert radios and {r["name"] for r in radios} == {"starts_at"}
        assert all(r.get("required") is not None for r in radios)
        assert [b.get("type") for b in form.all("button")] == ["submit"]  # one button per day
        name = radios[0]["aria-label"]
        assert re.fullmatch(r"\d\d:\d\d, 6 places", name), name
    # The same POST books the time the radio button holds.
    chosen = days[-1].all("input", type="radio")[0]["value"]
    assert client.post(url("curbside:times", bag.pk), {"starts_at": chosen}).status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.slot.starts_at == datetime.datetime.fromisoformat(chosen)
    # Back on the page, the time booked is ticked, said "your time", and its day open.
    tree = page(client.get(url("curbside:times", bag.pk)))
    (ticked,) = [r for r in tree.all("input", type="radio") if r.get("checked") is not None]
    assert ticked["value"] == chosen and ticked["aria-label"].endswith(", your time")
    assert next(a for a in ticked.ancestors() if a.tag == "details").get("open") is not None


# 5. Focus ring and field edges with contrast --------------------------------------------


def test_the_phone_desk_focus_ring_and_field_borders_have_3_to_1_contrast():
    phonedesk = static_text("phonedesk/phonedesk.css")
    assert "#f5a623" not in phonedesk.lower()
    assert re.search(r"\.phonedesk :focus-visible[^{]*\{[^}]*outline: 3px solid var\(--ink\)", phonedesk)
    app = static_text("emporter/app.css")
    variables = dict(re.findall(r"--([\w-]+): (#[0-9a-fA-F]{6})", app))
    fields = r"\ninput, select, button, textarea \{[^}]*border: 1px solid var\(--([\w-]+)\)"
    (border,) = re.findall(fields, app)
    for background in ("#ffffff", variables["bg"]):
        assert contrast(variables[border], background) >= 3, (border, background)
    assert contrast(variables["ink"], "#ffffff") >= 3


# 6. A form sent back with errors puts the focus on them ------------------------------------


def test_the_error_box_of_a_form_takes_the_focus(client, patron):
    client.force_login(patron.user)
    tree = page(client.post("/en/account/pin/", {"old_pin": "1234", "new_pin": "12", "confirm_pin": "12"}))
    box = tree.one("div", class_="errors")
    assert box.get("tabindex") == "-1" and box.get("autofocus") is not None
    assert len(tree.all(autofocus=True)) == 1
    assert tree.by_id("id_new_pin")["aria-invalid"] == "true"


# 7. The door's scan bar does not cover what has the focus on a phone ------------------------


def test_the_door_scan_bar_is_sticky_only_where_its_scroll_padding_covers_it():
    css = static_text("desk/desk.css")
    outside_media = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^}]*\})*[^}]*\}", "", css)
    assert "sticky" not in outside_media and "scroll-padding-top" not in outside_media
    (block,) = re.findall(r"@media \(min-width: 40rem\) \{((?:[^{}]*\{[^}]*\})*)[^}]*\}", css)
    assert "sticky" in block and "scroll-padding-top" in block


# 8. Small targets grow -------------------------------------------------------------------


def test_the_phone_desk_checkbox_and_the_back_link_are_24_px_at_least(client, branch):
    """The links' sizes are measured in the browser test below; here, what only CSS says."""
    phonedesk = static_text("phonedesk/phonedesk.css")
    assert re.search(r"label\.inline input \{[^}]*width: 1\.5rem; height: 1\.5rem", phonedesk)
    app = static_text("emporter/app.css")
    (selectors, body) = next((s, b) for s, b in re.findall(r"\n([^\n{]+)\{([^}]*)\}", app) if "p.back a" in s)
    for selector in (".facets a", ".to-facets a", "a.hit-title", ".crumbs a", "p.back a"):
        assert selector in selectors, selector
    assert "min-height: 1.5rem" in body and "min-width: 1.5rem" in body and "inline-block" in body
    record = make_record(title="Atlas", copies=[branch])
    back = page(client.get(f"/en/catalogue/record/{record.pk}/", {"back": "q=atlas"})).one("p", class_="back")
    assert back.one("a").text() == "← Back to the results"


# 9. Phone desk buttons say which document ------------------------------------------------


def test_phone_desk_buttons_carry_the_title_of_their_document(client, branch, patron):
    client.force_login(make_staff(branch=branch))
    make_ready_requests(patron, branch, ["Le Petit Prince"])
    make_record(title="Matilda", copies=[branch])
    tree = page(client.get("/en" + patron_url(patron), {"q": "Matilda"}))
    add = tree.one("button", data_nav_item=True)
    assert add.text() == "Add (Matilda)" and "Matilda" in add.one("span", class_="visually-hidden").text()
    texts = [b.text() for b in tree.by_id("requests").all("button")]
    assert "Cancel request (Le Petit Prince)" in texts
    assert not [t for t in texts if t in ("Cancel request", "Collect elsewhere")]


# 11. Adding from a record page comes back to the record's actions ------------------------


def test_adding_from_a_record_page_comes_back_to_its_actions(client, branch):
    record = make_record(title="Atlas", copies=[branch])
    tree = page(client.get(f"/en/catalogue/record/{record.pk}/"))
    form = tree.by_id("record-actions").one("form")
    (next_field,) = form.all("input", name="next")
    assert next_field["value"] == f"/en/catalogue/record/{record.pk}/#record-actions"
    response = client.post(form["action"], {"next": next_field["value"]})
    assert response["Location"] == next_field["value"]


# In a browser -------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_door_list_refreshes_in_place_and_never_while_a_card_is_typed(live_server, desktop):  # noqa: F811
    base = live_server.url
    branch = make_branch(weekdays=())
    open_all_day(branch)
    PickupSettings.objects.create(branch=branch, slot_minutes=30, per_slot=2)
    until = timezone.localdate() + datetime.timedelta(days=5)
    first = make_patron(branch, first_name="Inès", last_name="Roux")
    second = make_patron(branch, card="10000002", first_name="Lou", last_name="Durand")
    bags = [ready_bag(p, branch, [f"Titre {n}"], until=until) for n, p in enumerate((first, second))]
    browser_staff("porte", Role.DOOR_DESK, branch)
    staff_sign_in(desktop, base, "porte")
    desktop.wait_for_load_state()
    desktop.clock.install()
    desktop.goto(f"{base}/staff/door/{branch.pk}/")
    desktop.evaluate("window.notReloaded = true")
    assert desktop.evaluate("document.activeElement.id") == "card"
    part = "[data-arrivals-part=arrivals]"
    booked = desktop.locator("[data-arrivals-part=booked]")
    booked.evaluate("el => el.dataset.probe = 'same node'")

    curbside.i_am_here(bag=bags[0])
    desktop.clock.run_for(20_500)
    desktop.wait_for_function(f"() => document.querySelector('{part}').textContent.includes('Inès Roux')")
    assert desktop.evaluate("window.notReloaded") is True
    assert desktop.evaluate("document.activeElement.id") == "card"  # focus untouched
    assert booked.evaluate("el => el.dataset.probe") == "same node"  # unchanged, not swapped
    desktop.clock.run_for(300)
    said = desktop.locator("#announce-polite").text_content()
    assert said in ("1 abonné·e à la porte", "1 patron at the door"), said

    # A card being typed: nothing moves.
    desktop.fill("#card", "1000")
    curbside.i_am_here(bag=bags[1])
    desktop.clock.run_for(20_500)
    desktop.wait_for_timeout(500)
    assert "Lou Durand" not in desktop.locator(part).text_content()

    # The box emptied: the next round brings the news in.
    desktop.fill("#card", "")
    desktop.locator(part).evaluate("el => el.dataset.probe = 'old'")
    desktop.clock.run_for(20_500)
    desktop.wait_for_function(f"() => document.querySelector('{part}').textContent.includes('Lou Durand')")
    assert desktop.locator(part).evaluate("el => el.dataset.probe") is None
    assert desktop.evaluate("window.notReloaded") is True

    # Nothing new: nothing swapped.
    desktop.locator(part).evaluate("el => el.dataset.probe = 'kept'")
    desktop.clock.run_for(20_500)
    desktop.wait_for_timeout(500)
    assert desktop.locator(part).evaluate("el => el.dataset.probe") == "kept"


TARGETS = """sel => Array.from(document.querySelectorAll(sel)).map(el => {
  const r = el.getBoundingClientRect();
  return {text: el.textContent.trim(), width: r.width, height: r.height};
})"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_patron_on_a_phone_taps_searches_adds_and_picks_a_time_by_keyboard(live_server, phone):  # noqa: F811
    base = live_server.url
    branch = make_branch(weekdays=())
    open_all_day(branch)
    PickupSettings.objects.create(branch=branch, slot_minutes=30, per_slot=2)
    patron = make_patron(branch, first_name="Inès", last_name="Roux")
    until = timezone.localdate() + datetime.timedelta(days=3)
    bag = ready_bag(patron, branch, ["Le Petit Prince"], until=until)
    for title in ("Roman des îles", "Roman du soir"):
        make_record(title=title, copies=[branch], language="fre")

    phone.goto(f"{base}/account/login/")
    phone.fill("#id_card_number", patron.card_number)
    phone.fill("#id_pin", "1234")
    with phone.expect_navigation():
        phone.click("main form button[type=submit]")

    # 3 and 8: the results before the facets, every link standing alone 24 px at least.
    phone.goto(f"{base}/catalogue/?q=roman")
    order = phone.evaluate("Array.from(document.querySelectorAll('.layout > *')).map(e => e.tagName)")
    assert order == ["SECTION", "ASIDE"]
    small = [
        t
        for t in phone.evaluate(TARGETS, ".facets a, .to-facets a, a.hit-title")
        if t["height"] < 24 or t["width"] < 24
    ]
    assert not small, small

    # 11 and 2: added from the record page, back at its actions, and the result is said.
    with phone.expect_navigation():
        phone.locator("a.hit-title").first.click()
    (back,) = phone.evaluate(TARGETS, "p.back a")
    assert back["height"] >= 24, back
    with phone.expect_navigation():
        phone.locator("#record-actions button[type=submit]").click()
    assert phone.url.endswith("#record-actions")
    phone.wait_for_function("() => document.getElementById('announce-polite').textContent.length > 0")
    said = phone.locator("#announce-polite").text_content()
    assert "panier" in said and said == phone.locator("[data-flash] li").text_content()

    # 4: a day's times are one stop for Tab, the arrows move, Tab again reaches the button.
    phone.goto(base + reverse("curbside:times", args=[bag.pk]))
    # The first day may have a single time left late in the evening: then the next one.
    days = phone.locator("details.slot-day")
    first_day = days.first if days.first.locator("input[type=radio]").count() >= 2 else days.nth(1)
    if first_day.get_attribute("open") is None:
        first_day.locator("summary").click()
    first_day.locator("summary").focus()
    phone.keyboard.press("Tab")
    radios = first_day.locator("input[type=radio]")
    assert phone.evaluate("document.activeElement.type") == "radio"
    assert radios.first.evaluate("el => el === document.activeElement")  # the group's first
    phone.keyboard.press("ArrowRight")
    assert radios.nth(1).is_checked() and radios.nth(1).evaluate("el => el === document.activeElement")
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.type") == "submit"
    legend = first_day.locator("legend").text_content()
    assert legend == first_day.locator("summary").text_content()
    chosen = radios.nth(1).get_attribute("value")
    with phone.expect_navigation():
        phone.keyboard.press("Enter")
    assert Appointment.objects.get().slot.starts_at == datetime.datetime.fromisoformat(chosen)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_at_360_px_the_scan_bar_never_covers_the_box_being_ticked(live_server, phone):  # noqa: F811
    base = live_server.url
    branch = make_branch()
    patron = make_patron(branch, first_name="Sacha", last_name="Moreau")
    make_ready_requests(patron, branch, [f"Document numéro {n}" for n in range(8)])
    browser_staff("porte", Role.DOOR_DESK, branch)
    staff_sign_in(phone, base, "porte")
    phone.wait_for_load_state()
    phone.goto(f"{base}/staff/door/{branch.pk}/?card={patron.card_number}")
    # Scrolled to the end, then back up the list with Shift+Tab, as a keyboard user would.
    phone.locator("form.handover button[type=submit]").focus()
    covered = []
    for _ in range(8):
        phone.keyboard.press("Shift+Tab")
        covered += phone.evaluate(
            """() => {
              const box = document.activeElement, r = box.getBoundingClientRect();
              const top = document.elementFromPoint(r.left + r.width / 2, r.top + 2);
              return box.type === 'checkbox' && top !== box && !box.contains(top) ? [box.value] : [];
            }"""
        )
    assert not covered, covered


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/en/account/login/", {"card_number": "99999999", "pin": "0000"}),
        ("/en/staff/login/", {"username": "nobody", "password": "wrong"}),
    ],
)
def test_a_sign_in_form_sent_back_has_one_autofocus_the_errors(client, db, url, data):
    assert client.get(url).text.count("autofocus") == 1
    page = client.post(url, data).text
    assert page.count("autofocus") == 1 and 'class="errors" role="alert" tabindex="-1" autofocus' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_wide_screen_the_keyboard_reaches_the_facets_before_the_results(live_server, desktop):  # noqa: F811
    # The facets are drawn on the left but come after the 20 results in reading order:
    # "Refine the results" shows up when tabbed to, right after the search box.
    branch = make_branch()
    for n in range(25):
        make_record(title=f"Baleine {n}", copies=[branch])
    desktop.goto(f"{live_server.url}/catalogue/?q=baleine")
    desktop.focus("#search-q")
    for _ in range(8):
        desktop.keyboard.press("Tab")
        focused = desktop.evaluate("document.activeElement.textContent")
        if "Affiner" in focused:
            break
    else:
        raise AssertionError("eight Tabs after the search box, still no way to the facets")
    link = desktop.locator(".to-facets a")
    assert link.is_visible() and link.bounding_box()["x"] >= 0
    desktop.keyboard.press("Enter")
    assert desktop.evaluate("location.hash") == "#facets"


def test_the_phone_desks_cancel_reason_has_a_visible_label(client, branch):
    client.force_login(make_staff())
    patron = make_patron(branch)
    (ready,) = make_ready_requests(patron, branch, ["Un"])
    page = client.get(patron_url(patron)).content.decode()
    label = page[page.index(f'<label for="reason-{ready.pk}"') :].split("</label>")[0]
    assert 'class="visually-hidden"' not in label.split(">")[0] and ">Motif<" in label
    field = page[page.index(f'id="reason-{ready.pk}"') :].split(">")[0]
    assert "placeholder" not in field
