"""An older Koha's patron export writes a card never given an expiry as MySQL's zero
date: no expiry, not a bad date (twenty-fifth session: the row was refused)."""

from emporter.patrons.importer import import_patron_files
from tests.test_s16_patron_import import card, data_dir, write  # noqa: F401 (a fixture)

ROWS = "card_number;last_name;first_name;home_branch;card_expires\n"


def test_a_zero_date_is_no_expiry(tmp_path, branch):
    rows = ROWS + "23000000001;Lefèvre;Élodie;PDI;0000-00-00\n23000000002;Lefèvre;Noé;PDI;00/00/0000\n"
    report = import_patron_files([write(tmp_path, "koha.csv", rows)])
    assert report.problems == [] and report.files[0].created == 2
    assert card("23000000001").card_expires is None and card("23000000002").card_expires is None
