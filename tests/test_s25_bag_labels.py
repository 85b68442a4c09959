"""A bag's label starts with its patron's surname, folded as names are everywhere
(twenty-fifth session): letters NFKD leaves whole (Ø, Ł) were dropped, and the bag was
shelved under the surname's second letter."""

import pytest

from tests.conftest import make_patron, make_ready_requests


@pytest.mark.parametrize(
    ("last_name", "initial"),
    [("Øvergaard", "O"), ("Łukasiewicz", "L"), ("Émond", "E"), ("Œuvray", "O"), ("李", "X")],
)
def test_the_label_starts_with_the_surnames_first_letter(branch, last_name, initial):
    patron = make_patron(branch, last_name=last_name)
    (request,) = make_ready_requests(patron, branch, ["Un"])
    assert request.bag.label == f"{initial}001"
