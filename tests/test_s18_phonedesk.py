"""Sprint 18 phone desk review: callers not found by how their name or number was
written, a list of namesakes cut without a word, a closed library's requests another
desk could not move, and double submits that read as failures."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import translation

from emporter.folding import fold
from emporter.holds.continuity import set_mode
from emporter.holds.models import Bag, Request
from emporter.holds.services import place_request
from emporter.network.calendar import is_open
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import Role, StaffRole
from emporter.patrons.search import find_patrons, name_too_short, phone_variants
from emporter.picking.services import withdraw_closed_branches
from tests.conftest import make_patron, make_ready_requests, make_record

FIND = "/staff/phone/"


def make_staff(username="tel", role=Role.PHONE_DESK, branch=None):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


def patron_url(patron, action=""):
    return f"/staff/phone/patrons/{patron.pk}/{action}"


# -- Names as typed ------------------------------------------------------------------------

# Typographic apostrophes and dashes, as autocorrect, a word processor or a paste write them.
TYPOGRAPHIC = ["N\u2019Diaye", "N\u2018Diaye", "O\u02bcBrien", "Jean\u2011Pierre", "Jean\u2010Luc", "Lœtitia"]
# Letters unaccent strips and NFKD leaves whole.
LETTERS = ["Michał", "Søren", "Đorđe", "Łucja", "Þóra", "Ħal", "Yıldız", "Ŋaba", "Ŧom", "Ŀlobet"]


def test_fold_makes_typographic_apostrophes_and_dashes_plain():
    assert fold("N\u2019Diaye") == fold("N'Diaye") == "n'diaye"
    assert fold("Jean\u2011Pierre") == fold("Jean\u2013Pierre") == "jean-pierre"


def test_fold_does_what_postgresql_emporter_fold_does(postgres):
    """Names are matched by emporter_fold() in the database and fold() in Python (what
    is typed): they must agree, or a name typed as stored is not found."""
    with connection.cursor() as cursor:
        for text in TYPOGRAPHIC + LETTERS:
            cursor.execute("SELECT emporter_fold(%s)", [text])
            assert cursor.fetchone()[0] == fold(text), text


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("N'Diaye", "N\u2019Diaye"),  # stored plain, typed with the typographic apostrophe
        ("N\u2019Diaye", "N\u2019Diaye"),  # the very same characters as stored
        ("N\u2019Diaye", "N'Diaye"),
    ],
)
def test_a_name_with_an_apostrophe_is_found_as_typed(db, branch, stored, typed):
    patron = make_patron(branch, first_name="Aminata", last_name=stored)
    assert find_patrons(typed) == [patron]


@pytest.mark.parametrize(
    ("stored", "typed"),
    [("Dupont Moretti", "Dupont-Moretti"), ("Dupont Moretti", "dupont\u2011moretti"), ("N Diaye", "N'Diaye")],
)
def test_hyphens_and_apostrophes_part_the_words_typed(db, branch, stored, typed):
    patron = make_patron(branch, first_name="Claire", last_name=stored)
    assert find_patrons(typed) == [patron]


def test_a_name_needs_one_word_of_three_letters_once_parted():
    # "N'Di" is "n" and "di": no trigram index helps, as for "Li" alone.
    assert name_too_short("N'Di")
    assert not name_too_short("N'Diaye")


# -- Phone numbers as stored ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("+33 (0)6 12 34 56 78", "06 12 34 56 78"),  # a Koha export's usual international form
        ("0033 (0)6 12 34 56 78", "+33 6 12 34 56 78"),
        ("0692 12 34 56", "+262 692 12 34 56"),  # La Réunion: a French number too
        ("+262 692 12 34 56", "0692 12 34 56"),
        ("+590 590 12 34 56", "05 90 12 34 56"),  # Guadeloupe
        ("00 596 696 12 34 56", "0696123456"),  # Martinique
        ("+594 (0)694 12 34 56", "0694 12 34 56"),  # French Guiana
    ],
)
def test_a_phone_stored_in_another_french_form_is_found(db, branch, stored, typed):
    patron = make_patron(branch, phone=stored)
    assert find_patrons(typed) == [patron]


def test_phone_variants_of_a_french_number_and_of_a_foreign_one():
    variants = phone_variants("0612345678")
    assert {"0612345678", "33612345678", "330612345678", "0033612345678", "262612345678"} <= variants
    assert phone_variants("262692123456") == phone_variants("0692123456") | {"262692123456"}
    # Not French (a London number): only as typed, no code is stripped from it.
    assert phone_variants("442079460958") == {"442079460958"}


# -- Namesakes ---------------------------------------------------------------------------------


def test_more_namesakes_than_listed_are_said_to_be_more(client, branch, caplog):
    """21 "Martin": the page said "20 patrons match" and the 21st, the caller perhaps, was
    nowhere, with no hint to narrow the search. The audit line said "20 found" too."""
    staff = make_staff(branch=branch)
    client.force_login(staff)
    for n in range(20):
        make_patron(branch, card=f"2000{n:04d}", first_name=f"Prénom{n:02d}", last_name="Martin")
    with caplog.at_level("INFO", logger="emporter.audit"):
        page = client.get("/en" + FIND, {"q": "Martin"}).content.decode()
        assert "20 patrons match" in page and "More than" not in page  # all of them, and said so
        make_patron(branch, card="20000020", first_name="Prénom20", last_name="Martin")
        page = client.get("/en" + FIND, {"q": "Martin"}).content.decode()
    assert page.count('href="/en/staff/phone/patrons/') == 20
    assert "More than 20 patrons match" in page
    assert "add the first name" in page
    assert [r.getMessage() for r in caplog.records if r.name == "emporter.audit"] == [
        f"phone desk: {staff.pk} searched patrons 'Martin': 20 found",
        f"phone desk: {staff.pk} searched patrons 'Martin': 20 shown, more matched",
    ]


# -- A closed library's requests ----------------------------------------------------------------


def test_another_librarys_phone_desk_moves_a_request_off_a_closed_library(client, branch, other_branch):
    """docs/architecture.md: another library's phone desk may move a caller's request off
    a closed library (may_handle). The view allowed it; the page never showed the form."""
    patron = make_patron(branch)
    record = make_record(title="Appel", copies=[branch, other_branch])
    request = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)[0]
    move = f"/staff/phone/patrons/{patron.pk}/requests/{request.pk}/pickup/"
    client.force_login(make_staff(branch=other_branch))
    assert move not in client.get(patron_url(patron)).content.decode()  # open: its own desk's
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    withdraw_closed_branches()
    assert move in client.get(patron_url(patron)).content.decode()
    client.post(move, {"branch": other_branch.pk})
    request.refresh_from_db()
    assert request.pickup_branch == other_branch


# -- Double submits -------------------------------------------------------------------------------


def test_keep_longer_sent_twice_says_it_is_kept(client, branch):
    """A double click on "Keep longer": the second answer said "Choose a day after <the day
    just chosen>", and the librarian told the caller it had not worked."""
    patron = make_patron(branch)
    make_ready_requests(patron, branch, ["Un"])
    bag = Bag.objects.get(patron=patron)
    later = bag.hold_until + datetime.timedelta(days=1)
    while not is_open(branch, later):
        later += datetime.timedelta(days=1)
    client.force_login(make_staff(branch=branch))
    url = patron_url(patron, f"bags/{bag.pk}/keep/")
    client.post(url, {"until": later.isoformat()})
    client.cookies.pop("messages", None)  # the first answer, which the browser dropped for the second
    second = client.post("/en" + url, {"until": later.isoformat()}, follow=True)
    bag.refresh_from_db()
    assert bag.hold_until == later
    texts = [str(m) for m in second.context["messages"]]
    assert len(texts) == 1 and texts[0].startswith(f"Bag {bag.label} is kept until"), texts
    # Only the very day kept passes as done: an earlier one is still refused.
    earlier = client.post(
        "/en" + url, {"until": (later - datetime.timedelta(days=1)).isoformat()}, follow=True
    )
    assert any("Choose a day after" in str(m) for m in earlier.context["messages"])


def test_confirm_sent_again_with_another_pickup_says_it_was_confirmed(client, branch, other_branch):
    """A slow confirmation: the librarian changes "Collect at" and presses again (same
    form). Nothing is placed twice, but every line read "This Idempotency-Key was already
    used…": an HTTP header's name, and no word that the first went through."""
    patron = make_patron(branch)
    record = make_record(title="Lent", copies=[branch, other_branch])
    client.force_login(make_staff(branch=None))  # a network-wide phone desk
    client.post(patron_url(patron, "add/"), {"record": record.pk})
    page = client.get(patron_url(patron))
    form = {"confirm_key": page.context["confirm_key"], "record": [record.pk], "pickup_branch": branch.pk}
    client.post(patron_url(patron, "confirm/"), form)
    second = client.post(
        patron_url(patron, "confirm/"), form | {"pickup_branch": other_branch.pk}, follow=True
    )
    assert Request.objects.filter(patron=patron).count() == 1
    (outcome,) = second.context["outcomes"]
    with translation.override("fr"):
        expected = translation.gettext("This basket was already confirmed: see the current requests below.")
    assert outcome["text"] == expected
    assert "Idempotency" not in outcome["text"]


def test_a_name_typed_as_written_on_the_card_is_found(db, branch):
    patron = make_patron(branch, first_name="Michał", last_name="Wiśniewski")
    assert find_patrons("Michał Wiśniewski") == [patron]
    assert find_patrons("michal wisniewski") == [patron]


def test_the_admin_reads_a_compound_name_as_the_desks_do(db, branch):
    from emporter import admin_search

    patron = make_patron(branch, first_name="Éric", last_name="Dupont Moretti")
    found = set().union(
        *(set(q.values_list("pk", flat=True)) for q in admin_search.patrons("Dupont-Moretti"))
    )
    assert found == {patron.pk}
