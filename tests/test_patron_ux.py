"""What a patron sees on a phone: the words after confirming a basket, the record page
once a document is in the basket, the way back to a search, cancelling with a second
tap, the PIN form, and the dates."""

import datetime
import html
import re
from pathlib import Path

from django.template import Context, Template
from django.utils import dateformat, timezone, translation

from emporter.catalogue.models import CopyStatus
from emporter.dates import long_date
from emporter.desk.services import hand_over
from emporter.holds.models import Request, Status
from emporter.holds.services import place_request
from emporter.notices.compose import compose_all
from emporter.notices.models import Kind, Notice
from emporter.notices.render import render
from tests.conftest import make_ready_requests, make_record

ROOT = Path(__file__).resolve().parents[1] / "emporter"


def sign_in(client, card="10000001", pin="1234"):
    return client.post("/account/login/", {"card_number": card, "pin": pin})


def messages_of(response) -> list[str]:
    found = re.findall(r'<li class="[a-z ]*">(.*?)</li>', response.content.decode())
    return [html.unescape(m) for m in found]


# English pages live under /en/ (i18n_patterns); French, the default, has no prefix.


# 1. Confirming a basket


def test_a_request_that_only_joins_the_waiting_list_is_not_announced_as_requested(client, patron, branch):
    on_shelf = make_record(title="En rayon", copies=[branch])
    lent = make_record(title="Tous prêtés", copies=[(branch, "on_loan")])
    sign_in(client)
    response = client.post(
        "/en/basket/confirm/", {"pickup_branch": branch.pk, "record": [on_shelf.pk, lent.pk]}, follow=True
    )
    assert Request.objects.get(record=lent).status == Status.WAITING
    said = messages_of(response)
    assert "On the waiting list: Tous prêtés" in said
    assert "Requested: En rayon" in said
    assert "Requested: Tous prêtés" not in said


# 2. The browser tab of /discover/


def test_the_discover_page_title_is_plain_text(client, branch):
    page = client.get("/discover/").content.decode()
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "<" not in title and title.strip() == "Découvrir · Emporter"


# 4. The basket on the record page, the way back to the search, cancelling


def test_the_record_page_says_when_the_document_is_already_in_the_basket(client, branch):
    record = make_record(title="Déjà choisi", copies=[branch])
    page = client.get(f"/catalogue/record/{record.pk}/").content.decode()
    assert "Ajouter à mon panier" in page
    client.post(f"/basket/add/{record.pk}/")
    page = client.get(f"/catalogue/record/{record.pk}/").content.decode()
    assert "Ajouter à mon panier" not in page
    assert "Dans votre panier" in page and 'href="/basket/"' in page


def test_adding_the_same_document_twice_says_it_is_already_there(client, branch):
    record = make_record(title="Déjà choisi", copies=[branch])
    client.post(f"/basket/add/{record.pk}/")
    response = client.post(f"/en/basket/add/{record.pk}/", follow=True)
    assert "“Déjà choisi” is already in your basket." in messages_of(response)
    assert client.session["basket"] == [record.pk]


def test_the_way_back_from_a_record_keeps_the_search_and_its_filters(client, branch):
    record = make_record(title="Voyage au centre", copies=[branch])
    results = client.get("/catalogue/", {"q": "voyage", "doc_type": "book", "page": "1"}).content.decode()
    link = html.unescape(re.search(rf'<a href="([^"]*/record/{record.pk}/[^"]*)"', results).group(1))
    page = client.get(link).content.decode()
    back = html.unescape(re.search(r'<a href="(/catalogue/[^"]*)">← ', page).group(1))
    assert back == "/catalogue/?q=voyage&doc_type=book&page=1"


def test_the_way_back_cannot_lead_off_the_site(client, branch):
    record = make_record(copies=[branch])
    evil = {"back": '//evil.example/"><script>'}
    page = client.get(f"/catalogue/record/{record.pk}/", evil).content.decode()
    back = re.search(r'<a href="([^"]*)">← ', page).group(1)
    assert back.startswith("/catalogue/?") and "<script>" not in page.split("<main", 1)[1]


def test_cancelling_a_request_asks_first_without_javascript(client, patron, branch):
    mine, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    sign_in(client)
    page = client.get("/account/").content.decode()
    # The form (and its only submit button) sits inside a closed <details>: the first tap
    # on "Annuler" only opens the question.
    folded = re.search(r'<details class="confirm">(.*?)</details>', page, re.S).group(1)
    assert re.search(r"<summary[^>]*>Annuler</summary>", folded)
    assert f'action="/basket/requests/{mine.pk}/cancel/"' in folded
    assert page.count(f'action="/basket/requests/{mine.pk}/cancel/"') == 1


# 5. The PIN form and the help texts


def test_the_new_pin_must_be_typed_twice_alike(client, patron):
    sign_in(client)
    response = client.post("/en/account/pin/", {"old_pin": "1234", "new_pin": "4812", "confirm_pin": "4821"})
    assert "The two new PINs differ." in response.content.decode()
    client.post("/account/logout/")
    assert sign_in(client, pin="4812").status_code == 200  # not changed
    assert sign_in(client, pin="1234").status_code == 302


def test_the_pin_changes_when_both_new_pins_match(client, patron):
    sign_in(client)
    client.post("/account/pin/", {"old_pin": "1234", "new_pin": "4812", "confirm_pin": "4812"})
    client.post("/account/logout/")
    assert sign_in(client, pin="4812").status_code == 302


def assert_described_by_resolves(page: str) -> int:
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    refs = [r for refs in re.findall(r'aria-describedby="([^"]+)"', page) for r in refs.split()]
    assert refs and [r for r in refs if r not in ids] == []
    return len(refs)


def test_the_pin_form_help_text_is_there_for_screen_readers(client, patron):
    sign_in(client)
    assert_described_by_resolves(client.get("/account/pin/").content.decode())


def test_the_surprise_form_help_texts_are_there_for_screen_readers(client, patron):
    sign_in(client)
    assert assert_described_by_resolves(client.get("/discover/surprise/").content.decode()) >= 3


# 6. Dates in French and in English

# Django's "D", "M", "b" and "N" give capitalised three-letter months ("Nov", "Déc") and
# days ("sam") that read as English in French, and "DATE_FORMAT" gives "Jan. 23, 2027" in
# English next to "Saturday 23 January 2027" elsewhere.
ABBREVIATED = re.compile(r"""date(?::|_format\([^,]+,\s*)["']([^"']*[DMbN][^"']*)["']""")


def test_no_page_or_message_shows_abbreviated_or_us_style_dates():
    offenders = [
        f"{path.relative_to(ROOT)}: {m.group(1)}"
        for path in [*ROOT.rglob("*.html"), *ROOT.rglob("*.txt"), *ROOT.rglob("*.py")]
        if "locale" not in path.parts
        for m in ABBREVIATED.finditer(path.read_text())
        if m.group(1) not in ("SHORT_DATE_FORMAT", "SHORT_DATETIME_FORMAT")
    ]
    assert offenders == []


# Dates in words (a month's name) go through emporter.dates, which writes "1er" in French.
IN_WORDS = re.compile(r"""(?:\|date:|date_format\([^,]+,\s*|\{% now )["']([^"']*F[^"']*)["']""")


def test_every_date_in_words_goes_through_long_date():
    offenders = [
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for path in [*ROOT.rglob("*.html"), *ROOT.rglob("*.txt"), *ROOT.rglob("*.py")]
        if "locale" not in path.parts and path.name != "dates.py"
        for m in IN_WORDS.finditer(path.read_text())
        if not m.group(1).endswith("_FORMAT")  # Django's named formats: numbers only here
    ]
    assert offenders == []


def test_the_first_of_the_month_is_an_ordinal_in_french_only():
    first, second = datetime.date(2026, 12, 1), datetime.date(2026, 12, 2)
    with translation.override("fr"):
        assert long_date(first) == "mardi 1er décembre 2026"
        assert long_date(second, "l j F") == "mercredi 2 décembre"
        page = Template('{{ day|longdate:"j F Y" }}').render(Context({"day": first}))
        assert page == "1er décembre 2026"
    with translation.override("en"):
        assert long_date(first) == "Tuesday 1 December 2026"


def test_a_time_in_words_is_local_time():
    late_evening = datetime.datetime(2026, 11, 30, 23, 30, tzinfo=datetime.UTC)  # 00:30 in Paris
    with translation.override("fr"):
        assert long_date(late_evening, "l j F, H:i") == "mardi 1er décembre, 00:30"


def test_the_account_shows_dates_in_french_words(client, patron, branch):
    make_ready_requests(patron, branch, ["Prêt"])
    sign_in(client)
    page = client.get("/account/").content.decode()
    hold_until = Request.objects.get(patron=patron).hold_until
    days = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
    assert f"{days[hold_until.weekday()]} {hold_until.day} " in page
    assert not re.search(r"\b(Jan|Fév|Mar|Avr|Mai|Jui|Aoû|Sep|Oct|Nov|Déc)\b", page)


# 7. The deadline belongs to ready requests only


def test_a_collected_request_no_longer_shows_a_deadline(client, patron, branch):
    ready, collected = make_ready_requests(patron, branch, ["À retirer", "Déjà retiré"])
    hand_over(patron=patron, branch=branch, request_ids=[collected.pk])
    collected.refresh_from_db()
    assert collected.status == Status.COLLECTED and collected.hold_until
    shown = timezone.localdate() + datetime.timedelta(days=3)
    hidden = timezone.localdate() + datetime.timedelta(days=9)
    Request.objects.filter(pk=ready.pk).update(hold_until=shown)
    Request.objects.filter(pk=collected.pk).update(hold_until=hidden)
    sign_in(client)
    page = client.get("/en/account/").content.decode()
    rows = dict(re.findall(r"<tr>\s*<td><a [^>]*>([^<]+?)</a>(?:<div.*?)?</td>(.*?)</tr>", page, re.S))
    with translation.override("en"):
        assert dateformat.format(shown, "j F") in rows["À retirer"]
        assert dateformat.format(hidden, "j F") not in rows["Déjà retiré"]


# 8. A patron who switches the site to English is written to in English


def test_switching_language_also_changes_the_language_of_the_patrons_emails(client, patron, branch):
    assert patron.language == "fr"
    sign_in(client)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/en/account/"})
    assert response.status_code == 302 and response["Location"] == "/en/account/"
    patron.refresh_from_db()
    assert patron.language == "en"
    assert "Language of our emails: English" in client.get("/en/account/").content.decode()
    make_ready_requests(patron, branch, ["Ready"])
    compose_all(timezone.now() + datetime.timedelta(hours=4))
    ready = Notice.objects.get(kind=Kind.READY)
    rendered = render(ready)
    assert "ready" in rendered.subject.lower() and "/en/account/" in rendered.text


def test_an_english_patron_can_come_back_to_french(client, patron):
    sign_in(client)
    client.post("/i18n/setlang/", {"language": "en", "next": "/en/account/"})
    back = client.post("/i18n/setlang/", {"language": "fr", "next": "/en/account/"})
    assert back["Location"] == "/account/"
    patron.refresh_from_db()
    assert patron.language == "fr"
    to_english = client.post("/i18n/setlang/", {"language": "en", "next": "/account/?x=1"})
    assert to_english["Location"] == "/en/account/?x=1"


def test_a_language_variant_is_the_language_it_varies(client, patron):
    sign_in(client)
    client.post("/i18n/setlang/", {"language": "en-gb", "next": "/en/"})
    patron.refresh_from_db()
    assert patron.language == "en"
    client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    patron.refresh_from_db()
    assert patron.language == "en"


def test_switching_language_signed_out_changes_no_patron(client, patron):
    client.post("/i18n/setlang/", {"language": "en", "next": "/en/"})
    patron.refresh_from_db()
    assert patron.language == "fr"


# 9. A document with every copy out is said to go on a waiting list before confirming


def test_the_basket_says_which_documents_will_wait_for_a_copy(client, patron, branch):
    on_shelf = make_record(title="Sur le rayon", copies=[branch])
    all_out = make_record(title="Tout est sorti", copies=[branch])
    all_out.copies.update(status=CopyStatus.ON_LOAN)
    for record in (on_shelf, all_out):
        client.post(f"/en/basket/add/{record.pk}/")
    page = client.get("/en/basket/").content.decode()
    items = dict(re.findall(r"<strong>([^<]+)</strong>(.*?)</li>", page, re.S))
    assert "waiting list" in items["Tout est sorti"]
    assert "waiting list" not in items["Sur le rayon"]


# 10. The site has its own icon, served from our static files (no CDN, no 404)


def test_every_page_names_an_icon_that_is_there(client, db):
    from django.contrib.staticfiles import finders

    page = client.get("/").content.decode()
    (href,) = re.findall(r'<link rel="icon" href="/static/([^"]+)"', page)
    assert finders.find(href) is not None


def test_english_chosen_before_signing_in_is_offered_for_the_emails_in_one_click(client, patron):
    client.post("/en/account/login/", {"card_number": "10000001", "pin": "1234"})
    page = client.get("/en/account/").content.decode()
    assert "Language of our emails: French." in page and "Write to me in this language" in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/en/account/"})
    patron.refresh_from_db()
    assert patron.language == "en"
    page = client.get("/en/account/").content.decode()
    assert "Language of our emails: English." in page and "Write to me in this language" not in page
