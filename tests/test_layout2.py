"""Phone desk: availability is told from the pickup library, and a "/" typed by the
search shortcut never reaches the query. Record page: copies stack on a phone."""

from emporter.phonedesk import basket
from tests.conftest import make_patron, make_record
from tests.test_phone_desk import make_staff, patron_url


def test_the_pickup_library_is_here_not_elsewhere(client, branch, other_branch):
    # The patron's home is Croix-Rousse, but this librarian places for Part-Dieu only.
    patron = make_patron(other_branch)
    client.force_login(make_staff(branch=branch))
    record = make_record(title="Le Blues du Delta", copies=[branch, other_branch])
    client.post(patron_url(patron, "add/"), {"record": record.pk, "q": "blues"})
    assert basket.ids(client.session, patron.pk) == [record.pk]
    response = client.get(patron_url(patron))
    assert response.context["pickup"] == branch
    [(_, where)] = response.context["basket"]
    assert (where.here, where.elsewhere) == (1, ["Croix-Rousse"])
    html = response.content.decode()
    assert "En rayon à Part-Dieu (bibliothèque de retrait)" in html
    assert "Part-Dieu (home library)" not in html


def test_search_hits_are_also_told_from_the_pickup_library(client, branch, other_branch):
    patron = make_patron(other_branch)
    client.force_login(make_staff(branch=branch))
    make_record(title="Le Blues du Delta", copies=[branch])
    response = client.get(patron_url(patron), {"q": "blues"})
    [hit] = response.context["hits"]
    assert (hit.availability.here, hit.availability.elsewhere) == (1, [])


def test_a_leading_slash_is_not_part_of_the_query(client, branch, patron):
    client.force_login(make_staff(branch=branch))
    record = make_record(title="Le Blues du Delta", copies=[branch])
    response = client.get(patron_url(patron), {"q": "/blues"})
    assert response.context["q"] == "blues"
    assert [hit.record for hit in response.context["hits"]] == [record]
    response = client.post(patron_url(patron, "add/"), {"record": record.pk, "q": "/blues"})
    assert "q=blues" in response["Location"] and "%2F" not in response["Location"]
    # A slash inside the query is the patron's: AC/DC stays AC/DC.
    assert client.get(patron_url(patron), {"q": "AC/DC"}).context["q"] == "AC/DC"


def test_record_copies_are_a_stacked_table_with_labels(client, branch):
    record = make_record(title="Le Blues du Delta", copies=[branch])
    html = client.get(f"/catalogue/record/{record.pk}/").content.decode()
    assert '<table class="stack copies">' in html
    assert 'class="cote" data-label="' in html
