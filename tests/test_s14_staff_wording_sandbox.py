"""Staff wording reads plain values, not the application's objects: a template follows
relations and calls methods, so wording saved by whoever may edit notice templates could
write every patron's card number, email and PIN hash into each email sent (a finding of
the fourteenth session's security review). It still reads every documented variable, the
built-in wording it starts from (i18n, the footer) works as written, and it can load no
other template nor tag library."""

import pytest

from emporter.notices.models import Kind, NoticeTemplate
from emporter.notices.render import shipped_source, wording_error
from tests.conftest import make_patron
from tests.test_notice_wording import place, rendered

READS_OTHERS = (
    "Bonjour {{ greeting_name }}."
    "{% for p in patron.home_branch.patrons.all %}[{{ p.card_number }} {{ p.email }} {{ p.user.password }}]"
    "{% endfor %}{{ patron.user.password }}{{ patron.card_number }}{{ bag.patron.email }}"
    "{% for r in requests %}{{ r.patron.email }}{{ r.record.copies.all }}{% endfor %}"
)


def test_staff_wording_cannot_reach_other_patrons_nor_secrets(branch):
    victim = make_patron(branch, card="20000002", email="victim@example.org")
    reader = make_patron(branch, card="30000003", email="reader@example.org", language="fr")
    NoticeTemplate.objects.create(
        kind=Kind.CONFIRMATION, language="fr", subject="Vos demandes", body_text=READS_OTHERS
    )
    place(reader, branch, "Quelconque")
    out = rendered(reader, Kind.CONFIRMATION)
    assert out.fallback_reason == ""  # the wording ran, and found nothing to show
    for secret in (victim.email, victim.card_number, victim.user.password, reader.user.password, "30000003"):
        assert secret not in out.text and secret not in out.html
    assert out.text.startswith(f"Bonjour {reader.first_name}.")


@pytest.mark.parametrize("source", ['{% include "base.html" %}', "{% load static %}{% static 'x.css' %}"])
def test_staff_wording_loads_no_other_template_nor_library(source):
    assert wording_error(source, kind=Kind.READY, language="fr") != ""


@pytest.mark.parametrize("kind", [k for k, _ in Kind.choices])
def test_the_built_in_wording_of_every_kind_may_be_saved_as_staff_wording(kind):
    assert wording_error(shipped_source(kind), kind=kind, language="fr") == ""


def test_the_documented_variables_still_read(branch):
    reader = make_patron(branch, card="30000004", language="fr")
    NoticeTemplate.objects.create(
        kind=Kind.CONFIRMATION,
        language="fr",
        subject="{{ requests|length }} demande",
        body_text="{{ greeting_name }}|{% for r in requests %}{{ r.record.title }}/{{ r.pickup_branch.name }}"
        "/{{ r.status }}{% endfor %}|{{ branch.name }}|{{ account_url }}|{{ notice.kind }}",
    )
    place(reader, branch, "Lisible")
    out = rendered(reader, Kind.CONFIRMATION)
    assert out.subject == "1 demande"
    assert out.text.strip() == (
        f"{reader.first_name}|Lisible/{branch.name}/placed|{branch.name}|http://127.0.0.1:8000/account/|confirmation"
    )


def test_staff_html_wording_copied_from_the_built_in_still_renders(branch):
    from django.template.loader import get_template

    reader = make_patron(branch, card="30000005", language="fr")
    NoticeTemplate.objects.create(
        kind=Kind.CONFIRMATION,
        language="fr",
        subject="Vos demandes",
        body_text="Bonjour",
        body_html=get_template("notices/email/confirmation.html").template.source,  # extends _base.html
    )
    place(reader, branch, "Lisible")
    out = rendered(reader, Kind.CONFIRMATION)
    assert out.fallback_reason == "" and "Lisible" in out.html and "<html" in out.html


def test_staff_wording_reads_display_values(branch):
    reader = make_patron(branch, card="30000006", language="en")
    NoticeTemplate.objects.create(
        kind=Kind.CONFIRMATION,
        language="en",
        subject="{{ notice.get_kind_display }}",
        body_text="{% for r in requests %}{{ r.record.title }}: {{ r.get_status_display }}{% endfor %}",
    )
    place(reader, branch, "Alpha")
    out = rendered(reader, Kind.CONFIRMATION)
    assert (out.subject, out.text.strip()) == ("Request confirmation", "Alpha: Placed")
