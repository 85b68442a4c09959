"""Discovery offers what a request collected at the pickup library could take, by the
reader's own rules (twenty-fifth session): a library lending only its own copies was
offered copies elsewhere, a child's bag types a child may not request, and a word to
avoid kept only its first 200 hits out of the bag."""

from emporter.discovery import selectors, services
from emporter.holds.models import RequestPolicy
from tests.conftest import make_patron, make_record


def _bag(patron, branch, reader=None, **asked):
    return services.create_surprise_request(
        asked_by=patron, patron=reader or patron, pickup_branch=branch, how_many=2, **asked
    )


def test_a_library_lending_its_own_copies_only_is_offered_its_own(branch, other_branch):
    RequestPolicy.objects.create(branch=branch, allow_other_branches=False)
    patron = make_patron(branch)
    elsewhere = make_record(title="Dinosaures", copies=[other_branch], audience="adult")
    out_here = make_record(title="Espace", copies=[(branch, "on_loan"), other_branch], audience="adult")
    here = make_record(title="Dinosaures et espace", copies=[branch], audience="adult")
    suggested = [t.record for t in selectors.suggestions(_bag(patron, branch, tastes="dinosaures espace"))]
    assert suggested == [here], [r.title for r in suggested]
    assert elsewhere not in suggested and out_here not in suggested


def test_its_browse_tiles_show_no_copy_it_cannot_lend(client, branch, other_branch):
    RequestPolicy.objects.create(branch=branch, allow_other_branches=False)
    patron = make_patron(branch)
    make_record(title="Album", copies=[other_branch], audience="youth", age_min=3, age_max=6)
    client.force_login(patron.user)
    assert client.get("/discover/browse/3-6/").context["tiles"] == []


def test_a_childs_bag_is_offered_the_types_a_child_may_request(branch):
    RequestPolicy.objects.create(category="child", requestable_types=["book", "comic"])
    parent = make_patron(branch, card="20000001")
    child = make_patron(branch, card="20000002", first_name="Lina", category="child", guardian=parent)
    dvd = make_record(
        title="Dinosaures le film", copies=[branch], doc_type="dvd", audience="youth", age_min=6, age_max=9
    )
    book = make_record(title="Dinosaures", copies=[branch], audience="youth", age_min=6, age_max=9)
    suggested = [
        t.record for t in selectors.suggestions(_bag(parent, branch, child, age=7, tastes="dinosaures"))
    ]
    assert suggested == [book]
    assert dvd not in suggested


def test_every_record_a_word_to_avoid_finds_stays_out(branch):
    patron = make_patron(branch)
    for n in range(100, 305):  # 205 titles hold it; the oldest alone is on the shelf
        make_record(title=f"Horreur {n}", copies=[branch] if n == 100 else [], audience="adult")
    make_record(title="Jardin calme", copies=[branch], audience="adult")
    suggested = [t.record.title for t in selectors.suggestions(_bag(patron, branch, avoid="horreur"))]
    assert suggested == ["Jardin calme"]
