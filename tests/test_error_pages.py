"""With DEBUG off, the pages for "not found" and "server error" are the site's own, in
the visitor's language, not Django's English defaults."""

import pytest
from django.test import Client, override_settings


@pytest.mark.parametrize(
    ("prefix", "lang", "title"), [("", "fr", "Page introuvable"), ("/en", "en", "Page not found")]
)
@override_settings(DEBUG=False)
def test_a_page_not_found_is_ours_in_the_visitors_language(db, prefix, lang, title):
    response = Client().get(f"{prefix}/catalogue/record/999999/")
    assert response.status_code == 404
    assert f'<html lang="{lang}">' in response.text and f"<h1>{title}</h1>" in response.text


@override_settings(DEBUG=False)
def test_a_server_error_is_ours_in_the_visitors_language(db):
    from django.test import RequestFactory
    from django.utils import translation
    from django.views import defaults

    with translation.override("fr"):
        response = defaults.server_error(RequestFactory().get("/"))
    text = response.content.decode()
    assert response.status_code == 500
    assert '<html lang="fr">' in text and "Erreur du serveur" in text


def test_the_admin_pages_carry_the_sites_icon(client):
    # Without it browsers ask for /favicon.ico, which is not there: a 404 in every log.
    page = client.get("/admin/login/")
    assert page.status_code == 200 and "emporter/favicon.svg" in page.text
    assert "site-name" in page.text  # Django's own page around it
