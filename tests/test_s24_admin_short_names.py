"""The admin's patron search with a name too short for the trigram index ("Li", "Lê",
"Bo"): it folded every patron's "first last" name to look inside it. Such a name is now
a whole last or first name, compared through patrons/0015's folded-name indexes, and
the page says so. The same in the lists searched by patron (requests, loans, notices)."""

from emporter.holds.services import place_request
from tests.conftest import make_patron, make_record
from tests.test_s23_admin_short_words import _listed, count_and_plan

SAID = "Names of fewer than three letters are looked for as a whole last or first name"


def _people(branch):
    return {
        "li": make_patron(branch, card="20000001", first_name="Wei", last_name="Li"),
        "bo_li": make_patron(branch, card="20000002", first_name="Li", last_name="Bo"),
        "le": make_patron(branch, card="20000003", first_name="Anh", last_name="Lê"),
        "lina": make_patron(branch, card="20000004", first_name="Lina", last_name="Martin"),
        "oliver": make_patron(branch, card="20000005", first_name="Oliver", last_name="Duval"),
        "li_na": make_patron(branch, card="20000006", first_name="Li-Na", last_name="Wong"),
    }


def test_a_two_letter_name_is_a_whole_last_or_first_name_and_the_page_says_so(admin_client, branch):
    _people(branch)
    rows, page = _listed(admin_client, "admin:patrons_patron_changelist", "li")
    assert "20000001" in rows and "20000002" in rows
    assert "20000004" not in rows and "20000005" not in rows  # "li" inside Lina, Oliver
    assert f"{SAID} (“li”)." in page
    # Accents and capitals as elsewhere: "LE" is Lê.
    rows, _ = _listed(admin_client, "admin:patrons_patron_changelist", "LE")
    assert "20000003" in rows and "20000001" not in rows
    # Two short words: each is one of the names.
    rows, _ = _listed(admin_client, "admin:patrons_patron_changelist", "Li Bo")
    assert "20000002" in rows and "20000001" not in rows
    # A hyphenated first name typed whole is that name.
    rows, _ = _listed(admin_client, "admin:patrons_patron_changelist", "li-na")
    assert "20000006" in rows and "20000001" not in rows


def test_a_longer_name_a_card_or_a_phone_is_searched_as_before(admin_client, branch):
    _people(branch)
    rows, page = _listed(admin_client, "admin:patrons_patron_changelist", "lin")
    assert "20000004" in rows and SAID not in page  # inside "Lina"
    rows, page = _listed(admin_client, "admin:patrons_patron_changelist", "20000005")
    assert "20000005" in rows and SAID not in page


def test_the_request_list_finds_the_requests_of_a_two_letter_name(admin_client, branch):
    people = _people(branch)
    for key, title in (("li", "Un"), ("lina", "Deux")):
        place_request(
            patron=people[key], record_id=make_record(title, copies=[branch]).pk, pickup_branch=branch
        )
    rows, page = _listed(admin_client, "admin:holds_request_changelist", "Li")
    assert ">Un<" in rows.replace("\n", "") and ">Deux<" not in rows.replace("\n", "")
    assert SAID in page


def test_a_two_letter_name_reads_the_folded_name_indexes_not_every_patron(postgres, admin_client, branch):
    make_patron(branch, card="20000001", first_name="Wei", last_name="Li")
    _counted, plan = count_and_plan(admin_client, "admin:patrons_patron_changelist", "li")
    assert "patron_last_name_folded" in plan and "patron_first_name_folded" in plan, plan
    assert "phonedesk_patron_name_trgm" not in plan, plan
