"""Notice wording that must match what the patron is told: a cancellation's subject
counts the requests and gives each reason once; a closed library is not shown as where
to go; a confirmation does not promise a bag soon for requests on the waiting list."""

import datetime

import pytest
from django.utils import timezone

from emporter.holds.models import Status
from emporter.holds.services import cancel_request, place_request, tell_closed_pickups
from emporter.network.models import Branch, ServiceMode
from emporter.notices import compose
from emporter.notices.models import Kind, Notice, NoticeTemplate
from emporter.notices.render import render, wording_error
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record

ADDRESS = "30 boulevard Vivier-Merle"


def later():
    return timezone.now() + datetime.timedelta(minutes=5)


@pytest.fixture
def branch(branch):
    Branch.objects.filter(pk=branch.pk).update(address=f"{ADDRESS}\n69003 Lyon")
    branch.refresh_from_db()
    return branch


def patron_in(language, branch, card):
    return make_patron(branch, card=card, language=language)


def place(patron, branch, title, *, waiting=False):
    copy = (branch, "on_loan") if waiting else branch
    request = place_request(
        patron=patron, record_id=make_record(title=title, copies=[copy]).pk, pickup_branch=branch
    )[0]
    assert request.status == (Status.WAITING if waiting else Status.PLACED)
    return request


def rendered(patron, kind):
    compose.compose_all(later())
    return render(Notice.objects.get(patron=patron, kind=kind))


def lines(body):
    return [line.strip() for line in body.splitlines()]


# 1. Cancelled by the library: subject by the number of requests, each reason once.


@pytest.mark.parametrize("language", ["fr", "en"])
def test_several_cancellations_for_one_reason_say_it_once(branch, language):
    patron = patron_in(language, branch, f"3{language}")
    requests = [place(patron, branch, t) for t in ("Alpha", "Bêta", "Gamma")]
    compose.compose_all(later())
    for request in requests:
        cancel_request(request=request, by_staff=True, reason="document abîmé")
    out = rendered(patron, Kind.CANCELLED)
    reason = {"fr": "Motif\u00a0: document abîmé", "en": "Reason: document abîmé"}[language]
    assert out.text.count("document abîmé") == 1 and reason in out.text
    assert out.html.count("document abîmé") == 1 and reason in out.html
    for title in ("Alpha", "Bêta", "Gamma"):
        assert f"- {title}" in lines(out.text) and f"<li>{title}</li>" in out.html
    # The singular subject no longer stands for three requests.
    assert out.subject not in (
        "Votre bibliothèque a annulé une réservation",
        "Your library cancelled a request",
    )
    if language == "en":
        assert out.subject == "Your library cancelled 3 requests"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_single_cancellation_keeps_a_singular_subject(branch, language):
    patron = patron_in(language, branch, f"3single{language}")
    request = place(patron, branch, "Seul")
    compose.compose_all(later())
    cancel_request(request=request, by_staff=True, reason="lost")
    out = rendered(patron, Kind.CANCELLED)
    subject = {"fr": "Votre bibliothèque a annulé une réservation", "en": "Your library cancelled a request"}
    assert out.subject == subject[language]
    assert out.text.count("lost") == 1 and out.html.count("lost") == 1


@pytest.mark.parametrize("language", ["fr", "en"])
def test_different_reasons_are_given_beside_each_title(branch, language):
    patron = patron_in(language, branch, f"4{language}")
    damaged, lost, bare = (place(patron, branch, t) for t in ("Abîmé", "Perdu", "Sans motif"))
    compose.compose_all(later())
    cancel_request(request=damaged, by_staff=True, reason="document abîmé")
    cancel_request(request=lost, by_staff=True, reason="document perdu")
    cancel_request(request=bare, by_staff=True, reason="")
    out = rendered(patron, Kind.CANCELLED)
    label = {"fr": "Motif\u00a0:", "en": "Reason:"}[language]
    text = lines(out.text)
    assert f"- Abîmé — {label} document abîmé" in text
    assert f"- Perdu — {label} document perdu" in text
    assert "- Sans motif" in text  # no reason given: none shown, nor another's
    assert out.text.count("document abîmé") == 1 and out.text.count("document perdu") == 1
    assert f"<li>Abîmé — {label} document abîmé</li>" in out.html
    assert "<li>Sans motif</li>" in out.html
    assert out.html.count("document perdu") == 1


# 2. A closed library is not presented as where to go.


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_library_closed_is_not_given_as_where_to_go(branch, language):
    """The copy's library closes, and the request goes back on the waiting list: the
    patron is told, and the footer must not send them to the closed library."""
    patron = patron_in(language, branch, f"5{language}")
    place(patron, branch, "Fermé")
    compose.compose_all(later())
    Branch.objects.filter(pk=branch.pk).update(
        service_mode=ServiceMode.CLOSED, mode_changed_at=timezone.now()
    )
    assert picking.withdraw_closed_branches() == 1
    tell_closed_pickups()  # collected there too: told their library closed
    out = rendered(patron, Kind.PICKUP_CLOSED)
    assert "Fermé" in out.text and "Fermé" in out.html
    for body in (out.text, out.html):
        assert ADDRESS not in body
        assert "10:00–19:00" not in body
    if language == "en":
        assert "Part-Dieu, where you chose to collect your documents, is closed for now." in out.text


def test_an_open_library_is_still_given_with_its_address_and_hours(branch):
    patron = patron_in("fr", branch, "5open")
    place(patron, branch, "Ouvert")
    out = rendered(patron, Kind.CONFIRMATION)
    for body in (out.text, out.html):
        assert ADDRESS in body and "10:00–19:00" in body
        assert "Part-Dieu" in body


# 3. The confirmation promises a bag soon only for what is not on the waiting list.

SOON = {
    "fr": "en général le jour d’ouverture suivant",
    "en": "usually the next open day",
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_confirmation_all_on_the_waiting_list_promises_no_bag(branch, language):
    patron = patron_in(language, branch, f"6{language}")
    place(patron, branch, "Attendu", waiting=True)
    place(patron, branch, "Attendu aussi", waiting=True)
    out = rendered(patron, Kind.CONFIRMATION)
    for body in (out.text, out.html):
        assert "Attendu" in body and "Attendu aussi" in body
        assert SOON[language] not in body
    if language == "en":
        assert "No copy of these documents is free for now" in out.text
        assert "as soon as a copy comes back for you" in out.html


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_mixed_confirmation_says_which_are_waiting(branch, language):
    patron = patron_in(language, branch, f"7{language}")
    place(patron, branch, "En rayon")
    place(patron, branch, "Sur liste", waiting=True)
    out = rendered(patron, Kind.CONFIRMATION)
    text = lines(out.text)
    assert SOON[language] in out.text and SOON[language] in out.html
    # The document to be pulled comes before the promise; the waiting one after it,
    # under its own heading, and only once.
    promise = next(i for i, line in enumerate(text) if SOON[language] in line)
    assert text.index("- En rayon") < promise < text.index("- Sur liste")
    assert out.text.count("Sur liste") == 1 and out.html.count("Sur liste") == 1
    assert out.html.index("En rayon") < out.html.index(SOON[language]) < out.html.index("Sur liste")
    if language == "en":
        heading = [line for line in text[: text.index("- Sur liste")] if line][-1]
        assert heading.startswith("On the waiting list") and "comes back for you" in heading


def test_a_confirmation_with_nothing_waiting_is_unchanged(branch):
    patron = patron_in("fr", branch, "8fr")
    place(patron, branch, "Rien à attendre")
    out = rendered(patron, Kind.CONFIRMATION)
    assert SOON["fr"] in out.text and "liste d'attente" not in out.text


# Staff wording written against the old variables still renders; the new ones are checked.


def test_staff_wording_with_the_old_variables_still_works(branch):
    NoticeTemplate.objects.create(
        kind=Kind.CANCELLED,
        language="fr",
        subject="Annulé : {{ cancelled|length }}",
        body_text="{% for r in cancelled %}{{ r.record.title }} {% endfor %}"
        "{% for e in notice.events.all %}[{{ e.note }}]{% endfor %} {{ branch.name }} {{ hours|length }}",
    )
    patron = patron_in("fr", branch, "9fr")
    request = place(patron, branch, "Perso")
    compose.compose_all(later())
    cancel_request(request=request, by_staff=True, reason="abîmé")
    out = rendered(patron, Kind.CANCELLED)
    assert out.fallback_reason == ""
    assert out.subject == "Annulé : 1"
    assert out.text.strip() == "Perso [abîmé] Part-Dieu 6"


@pytest.mark.parametrize(
    "kind,source,expected",
    [
        (
            Kind.CANCELLED,
            "{% for r, why in cancellations %}{% if r.status == 'cancelled' %}"
            "{{ r.record.title }}: {{ why }}{% endif %}{% endfor %}"
            " / {{ common_reason }} / {{ reasons|length }}",
            "Document 6: Document abîmé / Document abîmé / 1",
        ),
        (
            Kind.CONFIRMATION,
            "{% for r in waiting %}{{ r.record.title }}{% endfor %} / {{ to_prepare|length }}",
            "Document 1 / 6",
        ),
        (Kind.READY, "{{ branch_closed|yesno:'closed,open' }}", "open"),
    ],
)
def test_staff_wording_may_use_the_new_variables(kind, source, expected):
    """Checked against the sample values staff wording is tried with before it is saved."""
    from django.template import Context, Template

    from emporter.notices.render import sample_context

    assert wording_error(source, kind=kind, language="fr") == ""
    assert Template(source).render(Context(sample_context(kind))) == expected


def test_an_english_email_says_it_is_in_english(patron, branch):
    """Screen readers and mail clients choose their voice and hyphenation from it."""
    patron.language = "en"
    patron.save(update_fields=["language"])
    place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    compose.compose_all(timezone.now() + datetime.timedelta(minutes=5))
    assert '<html lang="en">' in render(Notice.objects.get()).html
