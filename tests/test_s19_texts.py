"""Text messages and the HTML part of the emails, after the nineteenth session's mail review.

Texts go in the GSM 03.38 alphabet and, where they can, in one segment (160 units): one
no-break space or typographic apostrophe made the French "ready" text UCS-2, two
segments for each of 25,000 texts a morning. A patron who chose texts is told what the
email tells that matters: what could not be found beside what is ready, the document a
cancellation is about, and where to read more. The HTML part is laid out for a phone's
width and stays dark on white when the mail client is in dark mode."""

import datetime

import pytest
from django.utils import timezone, translation

from emporter.dates import long_date
from emporter.holds.services import cancel_request, place_request
from emporter.notices import compose, outbox, render, sms
from emporter.notices.models import Kind, Notice, NoticeTemplate
from emporter.picking import services as picking
from tests.browser.conftest import chromium  # noqa: F401 (fixture)
from tests.conftest import make_branch, make_patron, make_record

# GSM 03.38, written out here from the standard (not from the code under test): the
# basic set, and the extension table whose characters cost two units.
BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = set("^{}\\[~]|€")
SITE = "https://bm.example.fr"


@pytest.fixture(autouse=True)
def setup(settings):
    settings.SITE_URL = SITE
    outbox.stop_requested.clear()
    sms.outbox.clear()
    yield
    outbox.stop_requested.clear()


def later(minutes=5):
    return timezone.now() + datetime.timedelta(minutes=minutes)


def flush(minutes=5):
    compose.compose_all(later(minutes))
    outbox.send_due(later(minutes))


def one_segment_of_gsm7(text: str) -> bool:
    outside = {c for c in text if c not in BASIC | EXTENSION}
    assert not outside, f"{text!r}: {sorted(outside)} make it UCS-2"
    return len(text) + sum(c in EXTENSION for c in text) <= 160


def vaise(name="Médiathèque Vaise"):
    return make_branch(code="VAI", name=name, phone="04 72 85 66 20", email="vaise@bm.example.fr")


def texter(branch, language, card="2069000000001"):
    return make_patron(
        branch,
        card=card,
        first_name="Zoë",
        email="",
        phone="06 12 34 56 78",
        notice_channel="sms",
        language=language,
    )


def ready_and_not_found(patron, branch, titles=("L’Écume des jours", "Ça")):
    """Requests placed for ``titles``: the first found (a bag), the others not found;
    all told in one "ready" notice. Returns the texts sent."""
    for title in titles:
        place_request(
            patron=patron, record_id=make_record(title=title, copies=[branch]).pk, pickup_branch=branch
        )
    flush()
    lines = list(picking.build_run(branch=branch, kind="late").lines.order_by("pk"))
    picking.mark_found(line=lines[0])
    for line in lines[1:]:
        picking.mark_not_found(line=line)
    sms.outbox.clear()
    flush(200)
    return [text for _, text in sms.outbox]


def bag_of(patron):
    notice = Notice.objects.get(patron=patron, kind=Kind.READY)
    return notice.bag.label, notice.bag.hold_until


def date_said(day, language):
    with translation.override(language):
        return sms.gsm7(long_date(day, "l j F"))


# 1. The alphabet: what is in GSM-7 is kept, the rest becomes its plain form.


@pytest.mark.parametrize(
    "written, sent",
    [
        ("Médiathèque Vaise\u00a0: sac N001", "Médiathèque Vaise : sac N001"),  # no-break space
        ("jusqu’au 5\u202fdécembre", "jusqu'au 5 décembre"),  # narrow no-break space
        ("‘Tintin’ et « Astérix » ou “Spirou”", '\'Tintin\' et "Astérix" ou "Spirou"'),
        ("Paris – Lyon — Vaise", "Paris - Lyon - Vaise"),
        ("Œdipe, cœur, sœur", "OEdipe, coeur, soeur"),
        ("fenêtre âne île hôtel garçon Île Ça", "fenetre ane ile hotel garcon Ile Ça"),
        ("é è ù ì ò Ç É à ä ö ü ñ Ä Ö Ü Ñ ß Ø ø Å å Æ æ", "é è ù ì ò Ç É à ä ö ü ñ Ä Ö Ü Ñ ß Ø ø Å å Æ æ"),
        ("Naïve, Noël, Zoë", "Naive, Noel, Zoe"),
        ("Suite…", "Suite..."),
    ],
    ids=[
        "nbsp",
        "narrow-nbsp",
        "quotes",
        "dashes",
        "oe",
        "circumflex-cedilla",
        "kept",
        "diaeresis",
        "ellipsis",
    ],
)
def test_a_text_is_written_in_the_gsm7_alphabet(written, sent):
    assert sms.gsm7(written) == sent
    assert one_segment_of_gsm7(sms.gsm7(written))


def test_extension_characters_cost_two_units():
    assert sms.units("abc") == 3
    assert sms.units("[1] 5 €") == 10
    assert sms.fits("x" * 160) and not sms.fits("x" * 159 + "€")


def test_a_character_with_no_plain_form_is_a_question_mark_not_ucs2():
    assert one_segment_of_gsm7(sms.gsm7("Sen to Chihiro 千と千尋 😀"))


# 2. The "ready" text: GSM-7, one segment, and what could not be found too.


@pytest.mark.parametrize(
    "language, missing",
    [("fr", "Nous n'avons pas trouvé 1 autre document."), ("en", "We could not find 1 other document.")],
    ids=["fr", "en"],
)
def test_the_ready_text_is_one_gsm7_segment_and_says_what_was_not_found(db, language, missing):
    branch = vaise()
    patron = texter(branch, language)
    (text,) = ready_and_not_found(patron, branch)
    assert one_segment_of_gsm7(text), f"{text!r}: {len(text)} characters"
    label, day = bag_of(patron)
    assert f" {label}, " in text and date_said(day, language) in text, text
    assert missing in text, text


def test_two_not_found_are_counted(db):
    branch = vaise()
    patron = texter(branch, "en")
    (text,) = ready_and_not_found(patron, branch, ("Un", "Deux", "Trois"))
    assert "We could not find 2 other documents." in text, text
    assert one_segment_of_gsm7(text)


def test_a_ready_text_with_room_gives_the_account_link(db):
    branch = make_branch()  # "Part-Dieu"
    patron = texter(branch, "en")
    (text,) = ready_and_not_found(patron, branch, ("Un",))
    assert text.endswith(f"My requests: {SITE}/en/account/"), text
    assert one_segment_of_gsm7(text)


def test_a_long_library_name_is_shortened_not_the_bag_nor_its_date(db):
    branch = vaise("Médiathèque municipale du quartier de Vaise et de l’Industrie")
    patron = texter(branch, "fr")
    (text,) = ready_and_not_found(patron, branch)
    assert one_segment_of_gsm7(text), f"{text!r}: {len(text)} characters"
    label, day = bag_of(patron)
    assert f"sac {label}, jusqu'au {date_said(day, 'fr')}." in text, text
    assert "Industrie" in text and "Nous n'avons pas trouvé 1 autre document." in text, text


@pytest.mark.parametrize(
    "language, said", [("fr", "{date} : sac {label}."), ("en", "{date}: bag {label}.")], ids=["fr", "en"]
)
def test_a_reminder_text_says_its_date_once(db, language, said):
    branch = make_branch()
    patron = texter(branch, language)
    ready_and_not_found(patron, branch, ("Un",))
    notice = Notice.objects.get(patron=patron, kind=Kind.READY)
    with translation.override(language):
        context = render.context_for(notice)
        subject = render._render_shipped(Kind.REMINDER, context).subject
        text = render._sms(notice, Kind.REMINDER, subject, context)
    label, day = bag_of(patron)
    date = date_said(day, language)
    assert text.count(date) == 1 and said.format(date=date, label=label) in text, text
    assert one_segment_of_gsm7(text)


# 3. A cancellation names its document and links the patron's account, in their language.


def cancelled_text(language, title="Le Petit Prince", branch=None):
    branch = branch or vaise()
    patron = texter(branch, language)
    request = place_request(
        patron=patron, record_id=make_record(title=title, copies=[branch]).pk, pickup_branch=branch
    )[0]
    flush()
    sms.outbox.clear()
    cancel_request(request=request, by_staff=True, reason="Document abîmé")
    flush(10)
    ((_, text),) = sms.outbox
    return text


@pytest.mark.parametrize(
    "language, expected",
    [
        (
            "fr",
            "Votre bibliothèque a annulé une réservation : Le Petit Prince. "
            f"Mes réservations : {SITE}/account/",
        ),
        ("en", f"Your library cancelled a request: Le Petit Prince. My requests: {SITE}/en/account/"),
    ],
    ids=["fr", "en"],
)
def test_a_cancellation_text_names_the_document_and_links_the_account(db, language, expected):
    text = cancelled_text(language)
    assert text == expected
    assert one_segment_of_gsm7(text)


def test_a_long_title_is_cut_in_a_cancellation_text_not_the_link(db):
    title = "Histoire de la bibliothèque municipale de Lyon, " * 3 + "tome deuxième"  # (200 at most)
    text = cancelled_text("fr", title=title)
    assert one_segment_of_gsm7(text), f"{text!r}: {len(text)} characters"
    assert "Histoire de la bibliothèque" in text and "..." in text, text
    assert text.endswith(f"Mes réservations : {SITE}/account/"), text


def test_several_cancellations_are_counted_and_linked(db):
    branch = vaise()
    patron = texter(branch, "en")
    requests = [
        place_request(
            patron=patron, record_id=make_record(title=t, copies=[branch]).pk, pickup_branch=branch
        )[0]
        for t in ("Un", "Deux")
    ]
    flush()
    sms.outbox.clear()
    for request in requests:
        cancel_request(request=request, by_staff=True)
    flush(10)
    ((_, text),) = sms.outbox
    assert text == f"Your library cancelled 2 requests. My requests: {SITE}/en/account/"


# 4. Every kind: in GSM-7, one segment, with the account link (the confirmation excepted:
#    it answers what the patron has just done; a bag's text keeps its label and date first).


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("kind", [k for k in Kind.values if k != Kind.RECEIPT])  # (receipts are emailed)
def test_every_kind_of_text_is_one_gsm7_segment_with_the_account_link(db, kind, language):
    with translation.override(language):
        context = render.sample_context(kind)
        subject = render._render_shipped(kind, context).subject
        text = render._sms(context["notice"], kind, subject, context)
        account = context["account_url"]
    assert one_segment_of_gsm7(text), f"{text!r}: {len(text)} characters"
    assert text.startswith(sms.gsm7(subject)), text
    if kind in (Kind.READY, Kind.REMINDER):  # a bag's link goes when there is no room for it
        assert " A12" in text and date_said(context["bag"].hold_until, language) in text, text
    elif kind != Kind.CONFIRMATION:
        assert account.startswith(SITE) and text.endswith(account), text


# 5. Staff wording goes through the same conversion.


def test_staff_wording_of_a_text_is_converted_too(db):
    branch = vaise()
    NoticeTemplate.objects.create(
        kind=Kind.READY,
        language="fr",
        subject="« Prêt » — votre sac vous attend à {{ branch.name }}, n’oubliez pas\u00a0!",
        body_text="Bonjour {{ greeting_name }}",
    )
    patron = texter(branch, "fr")
    (text,) = ready_and_not_found(patron, branch)
    assert text.startswith('"Pret" - votre sac vous attend à Médiathèque Vaise, n\'oubliez pas ! : sac '), (
        text
    )
    assert one_segment_of_gsm7(text), f"{text!r}: {len(text)} characters"


# 6. The HTML part: a phone's width, and dark on white whatever the client's mode.


def ready_email_html(language):
    from django.core import mail

    branch = vaise()
    patron = make_patron(branch, card="2069000000002", email="zoe@example.net", language=language)
    mail.outbox.clear()
    ready_and_not_found(patron, branch)
    (message,) = [m for m in mail.outbox if "zoe@example.net" in m.to and "Vaise" in m.subject]
    ((html, _),) = message.alternatives
    return html


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_html_part_declares_a_phone_width_and_a_light_scheme_on_white(db, language):
    html = ready_email_html(language)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<meta name="color-scheme" content="light">' in html
    assert '<meta name="supported-color-schemes" content="light">' in html
    body = html.split("<body", 1)[1].split(">", 1)[0]
    assert "background: #ffffff" in body, body
    wrapper = html.split("<body", 1)[1].split("<div", 1)[1].split(">", 1)[0]
    assert "background: #ffffff" in wrapper and "max-width" in wrapper, wrapper


def test_staff_plain_wording_gets_the_same_frame(db):
    branch = vaise()
    NoticeTemplate.objects.create(kind=Kind.READY, language="en", subject="Ready", body_text="Hello")
    patron = make_patron(branch, card="2069000000003", email="zoe@example.net", language="en")
    ready_and_not_found(patron, branch)
    out = render.render(Notice.objects.get(patron=patron, kind=Kind.READY))
    assert out.fallback_reason == "" and "Hello" in out.html
    assert 'name="viewport"' in out.html and 'name="color-scheme"' in out.html
    assert '<body style="margin: 0; padding: 0; background: #ffffff;' in out.html


def test_the_html_part_on_a_dark_mode_phone(db, chromium):  # noqa: F811 (fixture)
    html = ready_email_html("fr")
    context = chromium.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, color_scheme="dark"
    )
    try:
        page = context.new_page()
        page.set_content(html)
        width, scrolled, scale, colours = page.evaluate(
            """[window.innerWidth, document.documentElement.scrollWidth, window.visualViewport.scale,
               [document.body, document.body.firstElementChild].map(e => {
                 const s = getComputedStyle(e); return [s.backgroundColor, s.color];
               })]"""
        )
    finally:
        context.close()
    # Without a viewport, a phone lays it out 980 px wide and shows it at 37 %.
    assert (width, scale) == (360, 1) and scrolled <= 360, (width, scrolled, scale)
    assert colours == [["rgb(255, 255, 255)", "rgb(29, 36, 51)"]] * 2, colours
