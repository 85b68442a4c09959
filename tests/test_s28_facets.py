"""Every facet link's count is what following the link finds: with one library chosen,
another library's count was of the titles held at both, and its link (which replaces
the choice) found all that library's titles."""

import pytest

from tests.conftest import make_record


def facet_links(client, params):
    response = client.get("/en/catalogue/", params)
    return response.context["result"].total, {f["name"]: f["values"] for f in response.context["facets"]}


@pytest.fixture
def snow(branch, other_branch):
    make_record("Neige un", copies=[branch, other_branch])
    make_record("Neige deux", copies=[other_branch])
    make_record("Neige trois", copies=[other_branch])


@pytest.mark.parametrize("available", [False, True])
def test_with_a_library_chosen_every_facet_link_finds_what_its_count_says(client, snow, branch, available):
    params = {"q": "neige", "branch": branch.pk} | ({"available": "on"} if available else {})
    total, facets = facet_links(client, params)
    assert total == 1
    for name, links in facets.items():
        for link in links:
            if link["selected"]:
                continue
            found, _ = facet_links(client, dict(pair.split("=") for pair in link["url"][1:].split("&")))
            assert found == link["count"], (name, link["label"])
    # Only the library chosen is listed, to be removed, as for the other facets.
    assert [(link["label"], link["selected"]) for link in facets["branch"]] == [(branch.name, True)]


def test_with_no_library_chosen_each_library_is_listed_with_its_count(client, snow, branch, other_branch):
    total, facets = facet_links(client, {"q": "neige"})
    assert total == 3
    counts = {link["label"]: link["count"] for link in facets["branch"]}
    assert counts == {branch.name: 1, other_branch.name: 3}
    for link in facets["branch"]:
        found, _ = facet_links(client, dict(pair.split("=") for pair in link["url"][1:].split("&")))
        assert found == link["count"]
