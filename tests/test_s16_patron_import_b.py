"""The patron import read again (sixteenth session): the truncated-export guard counted
the patrons its own run created, a child's guardian in another file of the export was
not found, an unknown Koha language refused the whole row, an emptied mobile kept the
old phone."""

import datetime

import pytest
from django.core.management import CommandError
from django.utils import timezone

from emporter.patrons.importer import import_patron_files, import_patrons
from emporter.patrons.models import Patron
from tests.test_s16_patron_import import HEADER, command, data_dir, write  # noqa: F401 (a fixture)


def test_expire_missing_guard_counts_the_patrons_it_just_created(tmp_path, branch):
    """A spreadsheet dropped the leading zeros of every card ("0000501" read as 501): the
    guard's own example. Every row is a new patron, so the guard's total doubles and
    exactly half are 'missing': every real patron's card is ended."""
    rows = "".join(f"00005{n:02};P{n};X;;PDI;adult;;2027-06-30;\n" for n in range(10))
    import_patrons(write(tmp_path, "a.csv", HEADER + rows))
    mangled = "".join(f"5{n:02};P{n};X;;PDI;adult;;2027-06-30;\n" for n in range(10))

    with pytest.raises(CommandError):  # no patron imported from it: every row refused (card_mangled)
        command(write(tmp_path, "b.csv", HEADER + mangled), "--expire-missing")

    ended = Patron.objects.filter(card_expires__lt=timezone.localdate(), card_number__startswith="0000")
    assert ended.count() == 0, f"{ended.count()} of the 10 real patrons had their card ended"


def test_a_guardian_in_another_file_of_the_same_export_is_linked(tmp_path, branch):
    """Several files are 'read as one export: a patron may be in any of them', but the
    second pass runs per file: a new child in the first file whose new guardian is in
    the second is reported no_guardian and left unlinked."""
    child = write(tmp_path, "branch_a.csv", HEADER + "0000125;DUPONT;Léa;;PDI;child;0000124;2027-06-30;\n")
    adult = write(tmp_path, "branch_b.csv", HEADER + "0000124;DUPONT;Céline;;PDI;adult;;2027-06-30;\n")

    run = import_patron_files([child, adult])

    assert [p.code for p in run.problems] == []
    assert Patron.objects.get(card_number="0000125").guardian == Patron.objects.get(card_number="0000124")


def test_a_koha_language_we_do_not_offer_does_not_stop_an_existing_patrons_news(tmp_path, branch):
    """Koha's lang column (1a3dcb7 reads it) holds the OPAC's languages ("es-ES", "de-DE"):
    the row is refused (bad_language) although the file's language is never applied to
    an existing patron: their new email, expiry, guardian never arrive, every night."""
    koha = "cardnumber;surname;firstname;email;branchcode;dateexpiry;lang\n"
    import_patrons(
        write(tmp_path, "a.csv", koha + "0000123;DUPONT;Jean;old@example.fr;PDI;30/06/2027;fr-FR\n")
    )

    report = import_patrons(
        write(tmp_path, "b.csv", koha + "0000123;DUPONT;Jean;new@example.fr;PDI;30/06/2028;es-ES\n")
    )

    jean = Patron.objects.get(card_number="0000123")
    assert (jean.email, jean.card_expires) == ("new@example.fr", datetime.date(2028, 6, 30)), [
        p.code for p in report.problems
    ]


def test_an_emptied_mobile_clears_the_phone_of_a_file_without_a_phone_column(tmp_path, branch):
    """A Koha report with `mobile` and no `phone`: the mobile is read as the phone, but an
    empty mobile cell leaves the old number (texts keep going to a number the patron gave
    up), against the rule 'an empty cell of a column the file has clears the value'."""
    koha = "cardnumber;surname;firstname;branchcode;mobile\n"
    import_patrons(write(tmp_path, "a.csv", koha + "0000123;DUPONT;Jean;PDI;06 12 34 56 78\n"))
    assert Patron.objects.get(card_number="0000123").phone == "06 12 34 56 78"

    import_patrons(write(tmp_path, "b.csv", koha + "0000123;DUPONT;Jean;PDI;\n"))

    assert Patron.objects.get(card_number="0000123").phone == ""
