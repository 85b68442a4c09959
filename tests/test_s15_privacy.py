"""The my-data export of a child come of age: the notices sent to their guardian while
they were a child went to the guardian's address, which is the guardian's data. The
outbox now notes it when it sends (``Notice.to_guardian``); before, an adult's export
gave every address their notices went to as their own, the former guardian's included."""

import pytest

from emporter.notices import outbox
from emporter.notices.models import Kind, Notice
from emporter.privacy.selectors import data_of
from tests.conftest import make_patron


@pytest.fixture
def locmem(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def _sent(patron, key):
    Notice.objects.create(patron=patron, kind=Kind.EXPIRED, dedupe_key=key)
    assert outbox.send_due() == 1
    return Notice.objects.get(dedupe_key=key)


def test_a_child_come_of_age_is_not_given_the_former_guardians_address(branch, locmem):
    guardian = make_patron(branch, card="20000001", first_name="Paul", email="paul.durand@example.org")
    child = make_patron(
        branch, card="30000001", first_name="Léo", email="", guardian=guardian, category="child"
    )
    notice = _sent(child, "k-child")
    assert notice.sent_to == "paul.durand@example.org" and notice.to_guardian is True

    # Eighteen: the patron import clears the guardian and gives them their own address.
    child.guardian, child.category, child.email = None, "adult", "leo@example.org"
    child.save()

    (exported,) = data_of(child)["notices"]
    assert "paul.durand@example.org" not in str(data_of(child))
    assert exported["sent_to"] != ""


def test_an_adults_former_own_address_is_still_given(branch, locmem):
    patron = make_patron(branch, card="30000002", email="ancien@example.org")
    notice = _sent(patron, "k-adult")
    assert notice.to_guardian is False
    patron.email = "nouveau@example.org"
    patron.save()
    (exported,) = data_of(patron)["notices"]
    assert exported["sent_to"] == "ancien@example.org"
