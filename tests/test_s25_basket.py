"""The basket says what confirming will find at the pickup library (twenty-fifth
session): it promised a waiting list where the library keeps none, and said nothing of
a type the library takes no request for; confirming then refused both."""

from django.urls import reverse

from emporter.holds.models import Request, RequestPolicy
from tests.conftest import make_record
from tests.test_s18_patron_pages import _confirm, _messages, _signed_in, _text


def test_no_waiting_list_promised_where_the_library_keeps_none(client, branch, patron):
    RequestPolicy.objects.create(branch=branch, allow_waiting_list=False)
    record = make_record("Germinal", copies=[(branch, "on_loan")])
    _signed_in(client, patron, [record])
    page = _text(client.get(reverse("holds:basket")))
    confirmed = _confirm(client, patron, [record], branch)
    assert not Request.objects.filter(patron=patron).exists() and _messages(confirmed)
    assert "liste d’attente" in page and "ne tient pas de liste d’attente" in page
    assert "vous serez inscrit" not in page.lower()


def test_a_type_the_library_takes_no_request_for_is_said(client, branch, patron):
    RequestPolicy.objects.create(branch=branch, requestable_types=["book"])
    record = make_record("Le voyage de Chihiro", copies=[branch], doc_type="dvd")
    _signed_in(client, patron, [record])
    page = _text(client.get(reverse("holds:basket")))
    confirmed = _confirm(client, patron, [record], branch)
    assert not Request.objects.filter(patron=patron).exists()
    assert any("DVD" in m for m in _messages(confirmed))
    assert f"{branch.name} ne prend pas de réservation pour les exemplaires de ce document (DVD)" in page


def test_a_book_on_the_shelf_there_gets_no_warning(client, branch, patron):
    RequestPolicy.objects.create(branch=branch, requestable_types=["book"], allow_waiting_list=False)
    record = make_record("Le rouge et le noir", copies=[branch])
    _signed_in(client, patron, [record])
    page = _text(client.get(reverse("holds:basket")))
    assert "ne prend pas" not in page and "liste d’attente" not in page
