"""The patron import after its review: the command takes the imports' turn, guardians
are linked once every row is written, a patron without a PIN gets the file's, a PIN cell
that is not a PIN costs the PIN only, the file does not undo the language chosen on the
site, and ``--expire-missing`` ends the cards of the patrons the export no longer lists."""

import datetime
import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone, translation

from emporter.holds.services import may_borrow
from emporter.imports import services as imports
from emporter.imports.models import ImportJob, Kind, State
from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron
from tests.conftest import make_patron

HEADER = "card_number;last_name;first_name;email;home_branch;category;guardian;card_expires;pin\n"
JEAN = "0000123;DUPONT;Jean;jean@example.fr;PDI;adult;;2027-06-30;4821\n"
CELINE = "0000124;DUPONT;Céline;celine@example.fr;PDI;adult;;2027-06-30;5932\n"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def command(*args):
    out, err = io.StringIO(), io.StringIO()
    with translation.override("en"):
        call_command("import_patrons", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def codes(report):
    return [(p.code, p.line) for p in report.problems]


def card(number):
    return Patron.objects.get(card_number=number)


def yesterday():
    return timezone.localdate() - datetime.timedelta(days=1)


# --- 1. the imports' turn ------------------------------------------------------------------


def running_import():
    now = timezone.now()
    return ImportJob.objects.create(
        kind=Kind.PATRONS, file_name="nightly.csv", state=State.RUNNING, started_at=now, heartbeat_at=now
    )


def test_the_command_does_not_run_beside_the_import_being_read(tmp_path, branch):
    running_import()
    path = write(tmp_path, "a.csv", HEADER + JEAN)

    with pytest.raises(CommandError, match="Another import is still being read.*nightly.csv"):
        command(path, "--wait", "0")

    assert not Patron.objects.exists()


def test_the_command_waits_for_its_turn_then_shows_on_the_imports_page(tmp_path, branch, monkeypatch):
    other = running_import()

    def the_other_ends(seconds):
        ImportJob.objects.filter(pk=other.pk).update(state=State.DONE, finished_at=timezone.now())

    monkeypatch.setattr(imports.time, "sleep", the_other_ends)
    path = write(tmp_path, "patrons.csv", HEADER + JEAN + "0000125;X;Y;bad;PDI;adult;;;\n")
    out, err = command(path)

    assert "Another import is being read (nightly.csv" in err
    mine = ImportJob.objects.exclude(pk=other.pk).get()
    assert (mine.state, mine.kind, mine.file_name, mine.options["command"]) == (
        State.DONE,
        Kind.PATRONS,
        "patrons.csv",
        True,
    )
    assert "patrons.csv: patrons 1 created" in mine.summary and str(tmp_path) not in mine.summary
    assert [(p["where"], p["code"]) for p in mine.problems] == [("patrons.csv, line 3", "bad_email")]


def test_a_file_not_read_is_said_failed_on_the_imports_page(tmp_path, branch):
    path = write(tmp_path, "bad.csv", "card;name\n1;x\n")
    with pytest.raises(CommandError, match="bad.csv"):
        command(path)
    assert ImportJob.objects.get().state == State.FAILED


def test_a_wrong_encoding_option_leaves_no_job(tmp_path, branch):
    with pytest.raises(CommandError, match="Unknown encoding"):
        command(write(tmp_path, "a.csv", HEADER + JEAN), "--encoding", "klingon")
    assert not ImportJob.objects.exists()


# --- 2. guardians ---------------------------------------------------------------------------


def test_a_child_listed_before_their_guardian_is_linked(tmp_path, branch):
    child = "0000125;DUPONT;Léa;;PDI;child;0000123;2027-06-30;\n"
    report = import_patrons(write(tmp_path, "a.csv", HEADER + child + JEAN))

    assert (report.created, report.skipped, codes(report)) == (2, 0, [])
    assert card("0000125").guardian == card("0000123")


def test_a_child_whose_guardian_is_unknown_gets_a_card_and_a_warning(tmp_path, branch):
    child = "0000125;DUPONT;Léa;;PDI;child;9999999;2027-06-30;\n"
    report = import_patrons(write(tmp_path, "a.csv", HEADER + child))

    assert (report.created, report.skipped, codes(report)) == (1, 0, [("no_guardian", 2)])
    assert card("0000125").guardian is None
    with translation.override("en"):
        assert "1 patron was imported without the guardian their row names" in report.summary()


def test_an_existing_child_whose_guardian_is_not_found_is_updated_and_keeps_their_guardian(tmp_path, branch):
    child = "0000125;DUPONT;Léa;;PDI;child;0000123;2027-06-30;\n"
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + child))
    renewed = "0000125;DUPONT;Léa;lea@example.fr;PDI;child;0000999;2028-06-30;\n"

    report = import_patrons(write(tmp_path, "b.csv", HEADER + JEAN + renewed))

    lea = card("0000125")
    assert (lea.card_expires, lea.email) == (datetime.date(2028, 6, 30), "lea@example.fr")
    assert lea.guardian == card("0000123")  # as it was
    assert (report.updated, report.unchanged, codes(report)) == (1, 1, [("no_guardian", 3)])


def test_a_child_moved_to_a_guardian_listed_later_is_counted_updated(tmp_path, branch):
    child = "0000125;DUPONT;Léa;;PDI;child;0000123;2027-06-30;\n"
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + child))
    moved = child.replace("0000123", "0000200")
    paul = "0000200;DUPONT;Paul;paul@example.fr;PDI;adult;;2028-06-30;\n"

    report = import_patrons(write(tmp_path, "b.csv", HEADER + JEAN + moved + paul))

    assert card("0000125").guardian == card("0000200")
    assert (report.created, report.updated, report.unchanged, codes(report)) == (1, 1, 1, [])


def test_a_circle_of_guardians_in_one_file_is_refused_but_the_rows_imported(tmp_path, branch):
    text = "0000301;A;Ann;;PDI;adult;0000302;;\n0000302;B;Bob;;PDI;adult;0000301;;\n"
    report = import_patrons(write(tmp_path, "a.csv", HEADER + text))

    assert report.created == 2 and codes(report) == [("bad_guardian", 3)]
    assert card("0000301").guardian == card("0000302") and card("0000302").guardian is None


# --- 3. a PIN for a patron created without one ----------------------------------------------


def test_a_patron_created_without_a_pin_gets_the_next_files(tmp_path, branch):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN.replace("4821", "")))
    report = import_patrons(write(tmp_path, "b.csv", HEADER + JEAN))

    assert authenticate(username="0000123", password="4821", patron_sign_in=True) == card("0000123").user
    assert (report.updated, report.pins_set, report.pins_ignored) == (1, 1, 0)
    # Theirs now: the next file's PIN is not set without --set-pins.
    report = import_patrons(write(tmp_path, "c.csv", HEADER + JEAN.replace("4821", "5937")))
    assert (report.unchanged, report.pins_set, report.pins_ignored) == (1, 0, 1)
    assert authenticate(username="0000123", password="4821", patron_sign_in=True) is not None


# --- 4. a PIN cell that is not a PIN --------------------------------------------------------


def test_a_bad_pin_cell_does_not_stop_an_existing_patrons_news(tmp_path, branch):
    first = "0000160;DUPONT;Jean;jean@example.fr;PDI;adult;;;0123\n"
    import_patrons(write(tmp_path, "a.csv", HEADER + first))
    news = "0000160;DUPONT;Jean;jean.dupont@example.fr;PDI;adult;;2028-06-30;123\n"

    report = import_patrons(write(tmp_path, "b.csv", HEADER + news))

    jean = card("0000160")
    assert (jean.email, jean.card_expires) == ("jean.dupont@example.fr", datetime.date(2028, 6, 30))
    assert (report.updated, report.skipped, report.pins_ignored, codes(report)) == (1, 0, 1, [])
    assert authenticate(username="0000160", password="0123", patron_sign_in=True) == jean.user
    # --set-pins asked for the file's PIN: said, and theirs kept.
    report = import_patrons(write(tmp_path, "b.csv", HEADER + news), set_pins=True)
    assert (report.skipped, codes(report)) == (0, [("bad_pin", 2)])
    assert authenticate(username="0000160", password="0123", patron_sign_in=True) == jean.user


def test_a_new_patron_with_a_bad_pin_cell_is_created_without_a_pin(tmp_path, branch):
    report = import_patrons(write(tmp_path, "a.csv", HEADER + JEAN.replace("4821", "482")))

    assert (report.created, report.skipped, report.pins_set, codes(report)) == (1, 0, 0, [("bad_pin", 2)])
    assert not card("0000123").user.has_usable_password()
    with translation.override("en"):
        assert "1 PIN cell was not a PIN (4 to 8 digits)" in report.summary()


# --- 5. the language chosen on the site -----------------------------------------------------


def test_the_file_sets_the_language_of_a_new_patron_only(tmp_path, branch):
    from emporter.patrons.services import set_language

    text = "card_number;last_name;first_name;home_branch;language\n0000170;SMITH;Ann;PDI;en\n"
    import_patrons(write(tmp_path, "a.csv", text))
    assert card("0000170").language == "en"
    set_language(patron=card("0000170"), language="fr")  # the site's switch

    report = import_patrons(write(tmp_path, "b.csv", text))

    assert card("0000170").language == "fr" and report.unchanged == 1


# --- 6. patrons the export no longer lists --------------------------------------------------


def test_expire_missing_ends_the_cards_of_patrons_not_in_the_export(tmp_path, branch):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE))
    gone = card("0000124")
    ended_long_ago = make_patron(branch, card="0000900", card_expires=datetime.date(2020, 1, 1))

    out, err = command(write(tmp_path, "b.csv", HEADER + JEAN), "--expire-missing")

    gone.refresh_from_db()
    assert gone.card_expires == yesterday() and not may_borrow(gone)
    assert card("0000123").card_expires == datetime.date(2027, 6, 30)
    ended_long_ago.refresh_from_db()
    assert ended_long_ago.card_expires == datetime.date(2020, 1, 1)  # never later than it was
    assert "The card of 1 patron not in the export was ended" in out
    assert "0000124 (Céline DUPONT) is not in the export" in err
    job = ImportJob.objects.get()
    assert [p["code"] for p in job.problems] == ["card_ended"]

    # Listed again: the export's date is theirs again.
    command(write(tmp_path, "c.csv", HEADER + JEAN + CELINE), "--expire-missing")
    assert card("0000124").card_expires == datetime.date(2027, 6, 30)


def test_expire_missing_reads_several_files_as_one_export(tmp_path, branch):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE))
    first, second = write(tmp_path, "b.csv", HEADER + JEAN), write(tmp_path, "c.csv", HEADER + CELINE)

    out, _err = command(first, second, "--expire-missing")

    assert not Patron.objects.filter(card_expires__lt=timezone.localdate()).exists()
    assert "ended" not in out


def test_a_child_is_not_ended_with_their_guardian(tmp_path, branch):
    child = "0000125;DUPONT;Léa;;PDI;child;0000124;2027-06-30;\n"
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE + child))

    command(write(tmp_path, "b.csv", HEADER + JEAN + child), "--expire-missing")

    lea = card("0000125")
    assert card("0000124").card_expires == yesterday()
    assert lea.card_expires == datetime.date(2027, 6, 30) and lea.guardian == card("0000124")


def test_expire_missing_ends_nothing_when_more_than_half_are_missing(tmp_path, branch):
    rows = "".join(f"00005{n:02};P{n};X;;PDI;adult;;;\n" for n in range(10))
    import_patrons(write(tmp_path, "a.csv", HEADER + rows))
    lines = rows.splitlines(keepends=True)
    truncated = "".join(lines[:4])

    out, err = command(write(tmp_path, "b.csv", HEADER + truncated), "--expire-missing")

    assert not Patron.objects.filter(card_expires__isnull=False).exists()
    assert "No card was ended: 6 of the 10 patrons with a valid card here are not in the export" in out
    # Half of them: the cards end.
    command(write(tmp_path, "c.csv", HEADER + "".join(lines[:5])), "--expire-missing")
    assert Patron.objects.filter(card_expires=yesterday()).count() == 5


@pytest.mark.parametrize(
    "damage",
    [
        ";DUPONT;Céline;celine@example.fr;PDI;adult;;2027-06-30;\n",  # no card number
        '0000124;"DUPONT;Céline;celine@example.fr;PDI;adult;;2027-06-30;\n' * 40,  # a quote left open
    ],
    ids=["no_card", "unreadable"],
)
def test_expire_missing_ends_nothing_when_a_row_could_be_a_listed_patrons(tmp_path, branch, damage):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE))

    out, err = command(write(tmp_path, "b.csv", HEADER + JEAN + damage), "--expire-missing")

    assert card("0000124").card_expires == datetime.date(2027, 6, 30)
    assert "No card was ended: " in out and "may be" in out


def test_a_skipped_row_still_lists_its_patron(tmp_path, branch):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE))
    bad_email = CELINE.replace("celine@example.fr", "not-an-email")

    out, err = command(write(tmp_path, "b.csv", HEADER + JEAN + bad_email), "--expire-missing")

    assert "bad_email" not in out and "not-an-email" in err
    assert card("0000124").card_expires == datetime.date(2027, 6, 30) and "ended" not in out


def test_expire_missing_needs_a_card_expires_column(tmp_path, branch):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE))
    text = "card_number;last_name;home_branch\n0000123;DUPONT;PDI\n"

    out, err = command(write(tmp_path, "b.csv", text), "--expire-missing")

    assert card("0000124").card_expires == datetime.date(2027, 6, 30)
    assert "No card was ended: " in out and "has no card_expires column" in out


def test_without_the_option_the_summary_counts_the_patrons_not_in_the_file(tmp_path, branch):
    from emporter.patrons.importer import import_patron_files

    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE))
    path = write(tmp_path, "b.csv", HEADER + JEAN)

    out, err = command(path)

    assert card("0000124").card_expires == datetime.date(2027, 6, 30)
    assert "1 patron with a valid card here is not in the export (--expire-missing" in out
    with translation.override("en"):  # the imports page: one file
        assert "1 patron with a valid card here is not in this file." in import_patrons(path).summary()
        assert import_patron_files([path]).not_listed == 1
