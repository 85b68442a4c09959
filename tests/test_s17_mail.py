"""What the seventeenth session's mail review found a patron misled by: a patron nobody
can write to was never told so on the site; staff wording showed "l&#x27;Île" in subjects
and plain text, and let a title's markup into the HTML part; "contact us" gave no way to;
a guardian could not tell their child's bag from their own; an http:// SITE_URL passed
`check --deploy` with HTTPS on."""

import datetime

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone, translation

from emporter.holds.services import cancel_request, place_request
from emporter.network.models import Branch
from emporter.notices import compose, outbox, render, sms
from emporter.notices.checks import links_and_sender_are_public
from emporter.notices.models import Kind, Notice, NoticeTemplate, State
from emporter.picking import services as picking
from tests.conftest import make_patron, make_ready_requests, make_record

PHONE, EMAIL = "04 78 62 18 00", "bm-pdi@example.org"
ILE = "Médiathèque de l'Île"
TITLE = "L'Étranger & moi"


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def later(minutes=5):
    return timezone.now() + datetime.timedelta(minutes=minutes)


def flush(minutes=5):
    compose.compose_all(later(minutes))
    outbox.send_due(later(minutes))


def place(patron, title, branch):
    record = make_record(title=title, copies=[branch])
    return place_request(patron=patron, record_id=record.pk, pickup_branch=branch)[0]


def ready_email(branch, patron, title):
    """The "ready" email of ``title``, placed, pulled and found at ``branch``."""
    place(patron, title, branch)
    flush()
    mail.outbox.clear()
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    flush(6)
    (message,) = mail.outbox
    return message


def html_of(message) -> str:
    return {mimetype: content for content, mimetype in message.alternatives}["text/html"]


@pytest.fixture
def reachable(branch):
    Branch.objects.filter(pk=branch.pk).update(phone=PHONE, email=EMAIL)
    branch.refresh_from_db()
    return branch


# 1. A patron nobody can write to is told so on the basket and account pages.

UNTOLD = "you will not be told when your documents are ready"


def page(client, card, path):
    assert client.post("/account/login/", {"card_number": card, "pin": "1234"}).status_code == 302
    return client.get(f"/en{path}").content.decode()


def basket_of(client, branch, card):
    client.post(f"/basket/add/{make_record(title='Sans adresse', copies=[branch]).pk}/")
    return page(client, card, "/basket/")


def test_the_basket_warns_a_patron_without_an_email_address(client, branch):
    make_patron(branch, card="17000001", email="", phone="06 12 34 56 78")
    shown = basket_of(client, branch, "17000001")
    assert "No email address:" in shown and UNTOLD in shown
    assert 'href="/en/account/"' in shown.split(UNTOLD)[1]  # where to look instead


def test_the_basket_says_which_address_is_missing_for_text_messages(client, branch):
    make_patron(branch, card="17000002", phone="", email="", notice_channel="sms")
    shown = basket_of(client, branch, "17000002")
    assert "No mobile phone number:" in shown and UNTOLD in shown


def test_the_basket_does_not_warn_a_patron_who_will_be_told(client, branch):
    make_patron(branch, card="17000003")
    assert UNTOLD not in basket_of(client, branch, "17000003")


def test_the_basket_does_not_warn_a_child_whose_guardian_will_be_told(client, branch):
    parent = make_patron(branch, card="17000004")
    make_patron(branch, card="17000005", email="", guardian=parent, category="child")
    assert UNTOLD not in basket_of(client, branch, "17000005")


def test_the_account_page_warns_a_patron_without_an_email_address(client, branch):
    make_patron(branch, card="17000006", email="")
    shown = page(client, "17000006", "/account/")
    assert "No email address:" in shown and UNTOLD in shown and "come back to this page" in shown


def test_the_account_page_does_not_warn_a_patron_who_will_be_told(client, branch):
    make_patron(branch, card="17000007")
    assert UNTOLD not in page(client, "17000007", "/account/")


# 2. Staff wording: the subject and the plain text as written, the HTML part escaped.


@pytest.fixture
def ile(branch):
    Branch.objects.filter(pk=branch.pk).update(name=ILE)
    branch.refresh_from_db()
    return branch


def staff_ready_wording(**parts):
    NoticeTemplate.objects.create(
        kind=Kind.READY,
        language="fr",
        subject="Vos documents vous attendent à {{ branch.name }}",
        body_text="{% for r in ready %}- {{ r.record.title }}\n{% endfor %}À retirer à {{ branch.name }}.",
        **parts,
    )


def test_staff_wording_subject_and_text_read_as_written(ile):
    staff_ready_wording()
    message = ready_email(ile, make_patron(ile, card="17000011"), TITLE)
    assert message.subject == f"Vos documents vous attendent à {ILE}"
    assert f"- {TITLE}\n" in message.body and f"À retirer à {ILE}." in message.body
    assert "&#x27;" not in message.body + message.subject and "&amp;" not in message.body


def test_staff_wording_html_part_is_still_escaped(ile):
    staff_ready_wording(
        body_html="<title>{{ subject }}</title><p>{% for r in ready %}{{ r.record.title }}{% endfor %}"
    )
    message = ready_email(ile, make_patron(ile, card="17000012"), "<b>Gras</b> & co")
    html = html_of(message)
    assert "<p>&lt;b&gt;Gras&lt;/b&gt; &amp; co" in html and "<b>Gras</b>" not in html
    assert "<title>Vos documents vous attendent à Médiathèque de l&#x27;Île</title>" in html
    assert message.subject == f"Vos documents vous attendent à {ILE}"


def test_staff_text_without_html_wording_does_not_put_markup_into_the_html_part(branch):
    """Wording copied from the built-in one begins with {% autoescape off %}: its text, shown
    as the HTML part too, is escaped there."""
    NoticeTemplate.objects.create(
        kind=Kind.READY,
        language="fr",
        subject="{% autoescape off %}Prêt à {{ branch.name }}{% endautoescape %}",
        body_text=(
            "{% autoescape off %}{% for r in ready %}- {{ r.record.title }}\n{% endfor %}{% endautoescape %}"
        ),
    )
    title = "<b>Gras</b> & <a href=http://evil.example>lien</a>"
    message = ready_email(branch, make_patron(branch, card="17000013"), title)
    assert f"- {title}" in message.body  # plain text: as written
    html = html_of(message)
    assert "<a href=http://evil.example>" not in html and "<b>" not in html
    assert "&lt;b&gt;Gras&lt;/b&gt; &amp; &lt;a href=http://evil.example&gt;lien&lt;/a&gt;" in html


def test_staff_text_without_html_wording_shows_its_ampersands_once(ile):
    staff_ready_wording()
    html = html_of(ready_email(ile, make_patron(ile, card="17000014"), TITLE))
    assert "L&#x27;Étranger &amp; moi" in html and "&amp;amp;" not in html and "&amp;#x27;" not in html


# 3. "Contact us": the library's phone and email, and replies go to it.


def test_a_cancellation_gives_the_librarys_phone_and_email(reachable):
    request = place(make_patron(reachable, card="17000021"), "Annulé", reachable)
    flush()
    mail.outbox.clear()
    cancel_request(request=request, by_staff=True, reason="document abîmé")
    flush(6)
    (message,) = mail.outbox
    assert PHONE in message.body and EMAIL in message.body
    html = html_of(message)
    assert PHONE in html and f'<a href="mailto:{EMAIL}">{EMAIL}</a>' in html
    assert message.reply_to == [EMAIL]


def test_the_library_closed_email_gives_its_phone_and_email_too(reachable):
    from emporter.holds.services import tell_closed_pickups
    from emporter.network.models import ServiceMode

    patron = make_patron(reachable, card="17000022")
    place(patron, "Fermé", reachable)
    compose.compose_all(later())
    Branch.objects.filter(pk=reachable.pk).update(
        service_mode=ServiceMode.CLOSED, mode_changed_at=timezone.now()
    )
    assert picking.withdraw_closed_branches() == 1
    tell_closed_pickups()
    compose.compose_all(later())
    out = render.render(Notice.objects.get(patron=patron, kind=Kind.PICKUP_CLOSED))
    assert PHONE in out.text and EMAIL in out.text
    assert PHONE in out.html and EMAIL in out.html and out.reply_to == EMAIL


def test_a_library_without_contact_details_gives_none_and_no_reply_to(branch):
    message = ready_email(branch, make_patron(branch, card="17000023"), "Sans contact")
    assert message.reply_to == [] and "mailto:" not in html_of(message)


def test_a_resent_email_keeps_its_message_id_and_reply_to(reachable):
    message = ready_email(reachable, make_patron(reachable, card="17000024"), "Deux fois")
    notice = Notice.objects.get(kind=Kind.READY)
    Notice.objects.filter(pk=notice.pk).update(state=State.UNCERTAIN)
    assert outbox.resend(notice=notice)
    outbox.send_due(later(7))
    first, again = mail.outbox
    assert first is message and again.extra_headers["Message-ID"] == message.extra_headers["Message-ID"]
    assert again.reply_to == first.reply_to == [EMAIL]


def test_staff_wording_including_the_footer_gives_the_contact_too(reachable):
    wording = '{% for r in ready %}{{ r.record.title }}{% endfor %}{% include "notices/email/_footer.txt" %}'
    assert render.wording_error(wording, kind=Kind.READY, language="fr") == ""
    NoticeTemplate.objects.create(kind=Kind.READY, language="fr", subject="Prêt", body_text=wording)
    message = ready_email(reachable, make_patron(reachable, card="17000025"), "Pied de page")
    assert PHONE in message.body and EMAIL in message.body
    assert Notice.objects.get(kind=Kind.READY).error_code == ""  # the staff wording was used


# 4. A child's notice, read by the guardian, names the child in its subject and text message.


def test_a_childs_ready_subject_and_text_message_name_the_child(branch):
    sms.outbox.clear()
    parent = make_patron(
        branch, card="17000031", first_name="Anaïs", email="", phone="06 11 22 33 44", notice_channel="sms"
    )
    parent.language = "en"  # (the reader's language is the email's)
    parent.save()
    child = make_patron(
        branch, card="17000032", first_name="Célestin", email="", guardian=parent, category="child"
    )
    make_ready_requests(child, branch, ["Le Petit Prince"])
    compose.compose_all(later())
    notice = Notice.objects.get(patron=child, kind=Kind.READY)
    assert notice.channel == "sms"
    out = render.render(notice)
    assert out.subject == f"For Célestin: Your document is ready at {branch.name}"
    assert out.sms.startswith("For Célestin: ")


def test_an_adults_own_subject_names_nobody(branch):
    make_ready_requests(make_patron(branch, card="17000033", language="en"), branch, ["À soi"])
    compose.compose_all(later())
    assert (
        render.render(Notice.objects.get(kind=Kind.READY)).subject
        == f"Your document is ready at {branch.name}"
    )


def test_staff_wording_naming_the_child_is_not_named_twice(branch):
    NoticeTemplate.objects.create(
        kind=Kind.READY,
        language="fr",
        subject=(
            "{% if for_child %}Les documents de {{ for_child.first_name }}{% else %}Vos documents{% endif %}"
        ),
        body_text="Bonjour",
    )
    parent = make_patron(branch, card="17000034", first_name="Anaïs")
    child = make_patron(
        branch, card="17000035", first_name="Célestin", email="", guardian=parent, category="child"
    )
    make_ready_requests(child, branch, ["Le Petit Prince"])
    compose.compose_all(later())
    assert (
        render.render(Notice.objects.get(patron=child, kind=Kind.READY)).subject
        == "Les documents de Célestin"
    )


# 5. check --deploy: an http:// SITE_URL while HTTPS is on.


def deploy_errors(site_url: str, *, https: bool) -> list[str]:
    with override_settings(
        HTTPS=https,
        SITE_URL=site_url,
        ALLOWED_HOSTS=["bibliotheque.example.fr"],
        DEFAULT_FROM_EMAIL="Bibliothèques <ne-pas-repondre@bibliotheque.example.fr>",
    ):
        return [error.id for error in links_and_sender_are_public()]


def test_an_http_site_url_with_https_on_fails_the_deploy_check():
    assert deploy_errors("http://bibliotheque.example.fr", https=True) == ["notices.E005"]


def test_an_https_site_url_or_https_off_passes_it():
    assert deploy_errors("https://bibliotheque.example.fr", https=True) == []
    assert deploy_errors("http://bibliotheque.example.fr", https=False) == []


def test_a_local_site_url_is_said_once():
    assert deploy_errors("http://127.0.0.1:8000", https=True) == ["notices.E002"]


def test_a_patron_who_chose_texts_but_has_only_an_email_is_emailed(branch):
    # Texts chosen once, the mobile since removed (a Koha export's emptied cell): the
    # notice failed as "no phone" while an email address was on the card.
    from emporter.patrons.models import NoticeChannel

    patron = make_patron(branch, card="52000001", notice_channel="sms", phone="", email="zoe@example.org")
    assert patron.telling_channel == NoticeChannel.EMAIL
    assert patron.written_to(patron.telling_channel) == patron


def test_a_patron_who_chose_texts_with_a_mobile_keeps_texts(branch):
    patron = make_patron(branch, card="52000002", notice_channel="sms", phone="0612345678", email="z@x.fr")
    assert patron.telling_channel == "sms"


def test_a_child_whose_name_is_in_the_library_name_is_named_all_the_same(branch):
    # Jean collecting at "Saint-Jean": the name was looked for in the subject's words and
    # found in the library's, so the guardian's two emails looked the same.
    Branch.objects.filter(pk=branch.pk).update(name="Bibliothèque Saint-Jean")
    branch.refresh_from_db()
    out = jeans_ready_email(branch)
    assert out.subject.startswith("Pour Jean"), out.subject
    assert out.sms.startswith("Pour Jean"), out.sms


def test_a_child_on_texts_is_emailed_to_a_guardian_with_only_an_email(branch):
    # The guardian's own notices reached that address (the fallback), their child's none.
    from emporter.notices.selectors import can_be_told

    parent = make_patron(branch, card="17100003", email="anais@example.org", phone="", notice_channel="sms")
    child = make_patron(
        branch, card="17100004", email="", phone="", guardian=parent, category="child", notice_channel="sms"
    )
    assert can_be_told(child)
    assert child.written_to(child.telling_channel) == parent


def test_the_account_says_how_notices_go_now(client, branch):
    # Texts chosen, no mobile left: the notices go by email, and the account said "SMS".
    patron = make_patron(branch, card="17100005", notice_channel="sms", phone="", email="z@example.org")
    client.force_login(patron.user)
    with translation.override("en"):
        page = client.get("/en/account/").text
    assert "<dt>Told by</dt><dd>Email</dd>" in page


def test_staff_wording_naming_the_child_as_the_patron_is_not_named_twice(branch):
    # The context's patron is the child: "{{ patron.first_name }}, tes documents…" became
    # "Pour Jean — Jean, tes documents…".
    NoticeTemplate.objects.create(
        kind=Kind.READY,
        language="fr",
        subject="{{ patron.first_name }}, tes documents t’attendent",
        body_text="{% for r in ready %}- {{ r.record.title }}\n{% endfor %}",
    )
    assert jeans_ready_email(branch).subject == "Jean, tes documents t’attendent"


def jeans_ready_email(branch):
    """The "ready" email of Jean, a child, rendered for his guardian."""
    parent = make_patron(branch, card="17100001", first_name="Anaïs")
    child = make_patron(
        branch, card="17100002", first_name="Jean", email="", guardian=parent, category="child"
    )
    make_ready_requests(child, branch, ["Le Petit Prince"])
    compose.compose_all(timezone.now() + datetime.timedelta(minutes=5))
    return render.render(Notice.objects.get(patron=child, kind="ready"))
