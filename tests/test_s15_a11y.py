"""Accessibility, the fifteenth session's review: a guardian's surprise bags each say
which bag their "Cancel" cancels, and ask first (as the account's requests do); French
prose on the English pages says it is French."""

from emporter.discovery import services
from tests.conftest import make_patron
from tests.test_a11y_s8 import page


def test_each_surprise_bags_cancel_says_which_bag_and_asks_first(client, branch):
    parent = make_patron(branch, first_name="Nadia", last_name="Benali")
    child = make_patron(branch, card="20000002", first_name="Lina", category="child", guardian=parent)
    mine = services.create_surprise_request(asked_by=parent, patron=parent, pickup_branch=branch, how_many=1)
    services.create_surprise_request(asked_by=parent, patron=child, pickup_branch=branch, how_many=2)
    client.force_login(parent.user)
    tree = page(client.get("/en/discover/surprise/"))
    names = [s.get("aria-label") for s in tree.one("main").all("summary")]
    assert sorted(names) == [
        "Cancel the surprise bag for Lina, 2 documents",
        "Cancel the surprise bag for Nadia, 1 document",
    ]
    form = tree.one("form", action=f"/en/discover/surprise/{mine.pk}/cancel/")
    assert any(a.tag == "details" and "open" not in a.attrs for a in form.ancestors())


FRENCH_TEXT = "Les livres que nos bibliothécaires ont aimés cette saison."
FRENCH_SUMMARY = "Un roman sur l'exil, écrit pendant la guerre et publié à Lyon."


def language_of(tree, text):
    """The lang in force where ``text`` is written (the nearest lang attribute up)."""
    for node in tree.one("main").descendants():
        if any(isinstance(c, str) and text in c for c in node.children):
            for holder in (node, *node.ancestors()):
                if "lang" in holder.attrs:
                    return holder["lang"]
            return tree.one("html")["lang"]
    raise AssertionError(f"{text!r} is not in the page")


def test_a_selection_written_in_french_is_marked_french_on_the_english_page(client, branch):
    from emporter.discovery.models import Selection, SelectionItem
    from tests.conftest import make_record

    chosen = Selection.objects.create(title="Coups de cœur", text=FRENCH_TEXT)
    SelectionItem.objects.create(selection=chosen, record=make_record(title="Atlas", copies=[branch]))
    english = page(client.get(f"/en/discover/selections/{chosen.pk}/"))
    assert language_of(english, FRENCH_TEXT) == "fr"
    # On the French page, the page's own lang says it: nothing added.
    assert 'lang="fr"' not in client.get(f"/discover/selections/{chosen.pk}/").text.split("<main")[1]


def test_a_summary_is_marked_in_the_librarys_language_on_the_english_record_page(client, branch):
    from tests.conftest import make_record

    record = make_record(title="La Femme étrangère", copies=[branch], language="fre", summary=FRENCH_SUMMARY)
    tree = page(client.get(f"/en/catalogue/record/{record.pk}/"))
    assert tree.one("html")["lang"] == "en"
    assert language_of(tree, FRENCH_SUMMARY) == "fr"


def test_a_second_page_of_results_has_a_title_of_its_own(client, branch):
    from django.utils import translation

    from tests.conftest import make_record

    for n in range(25):
        make_record(title=f"Jardin {n}", copies=[branch])
    with translation.override("en"):
        first = page(client.get("/en/catalogue/", {"q": "jardin"}))
        second = page(client.get("/en/catalogue/", {"q": "jardin", "page": 2}))
    assert first.one("title").text() != second.one("title").text()
    assert "page 2" in second.one("title").text()


def test_the_doors_title_names_the_patron_shown(client, branch):
    from emporter.patrons.models import Role
    from tests.conftest import make_ready_requests
    from tests.test_door_pages import scan, staff

    patron = make_patron(branch, card="30000007", first_name="Inès", last_name="Morel")
    make_ready_requests(patron, branch, ["Un"])
    client.force_login(staff(Role.DOOR_DESK, branch))
    shown = page(scan(client, branch, patron.card_number))
    assert shown.one("title").text().startswith("Inès M. · ")  # as the bag labels: not the whole name


def test_the_french_cancel_label_reads_well_before_a_vowel(client, branch):
    """'Annuler le sac surprise de Anaïs' (read out by screen readers)."""
    parent = make_patron(branch, card="30000008", first_name="Anaïs", last_name="Diallo")
    services.create_surprise_request(asked_by=parent, patron=parent, pickup_branch=branch, how_many=1)
    client.force_login(parent.user)
    page = client.get("/discover/surprise/").text
    assert "Annuler le sac surprise pour Anaïs, 1 document" in page
