"""The CSV imports (copies and patrons) against real-world files and nightly re-runs:
non-UTF-8 exports, broken rows, values the database would refuse, statuses our own
circulation owns, and PINs re-hashed on every run."""

import datetime
import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.utils import translation

from emporter.api.models import ApiToken
from emporter.api.tokens import issue_token
from emporter.catalogue import csv_import
from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.patrons import importer as patron_importer
from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron, StaffRole
from tests.conftest import make_branch

COPIES = "barcode;record;call_number;branch;status\n"
PATRONS = "card_number;first_name;last_name;phone;home_branch;pin\n"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def crx(db):
    Record.objects.create(source_key="koha:1", title="Le loup")
    return make_branch(code="CRX", name="Croix-Rousse")


def write(tmp_path, text, encoding="utf-8", name="file.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def copies(path, **kw):
    out = io.StringIO()
    return import_copies(path, stdout=out, **kw), out.getvalue()


def codes(report):
    return [(p.code, p.line) for p in report.problems]


# --- 1. encodings and unreadable rows ---------------------------------------------------


def test_mac_roman_copies_file_is_refused_with_its_line_and_nothing_written(tmp_path, crx):
    # Excel's "CSV (Macintosh)": ç is 0x8D, a byte Windows-1252 does not define.
    path = write(tmp_path, COPIES + "J001;koha:1;R GAR;CRX;\nJ002;koha:1;R Garçon;CRX;\n", "mac_roman")

    report, out = copies(path)

    assert codes(report) == [("bad_encoding", 3)]
    assert "--encoding mac_roman" in report.problems[0].message and "line 3" in out
    assert not Copy.objects.exists()


def test_mac_roman_copies_file_imports_when_its_encoding_is_given(tmp_path, crx):
    path = write(tmp_path, COPIES + "J002;koha:1;R Garçon;CRX;\n", "mac_roman")

    report, _ = copies(path, encoding="mac_roman")

    assert (report.created, report.problems, report.encoding) == (1, [], "mac-roman")
    assert Copy.objects.get().call_number == "R Garçon"


def test_dos_patrons_file_that_would_crash_is_refused(tmp_path, branch):
    # Excel's "CSV (MS-DOS)": ü is 0x81, undefined in Windows-1252.
    path = write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;\n2;Jürgen;Müller;;PDI;\n", "cp850")

    report = import_patrons(path)

    assert codes(report) == [("bad_encoding", 3)]
    assert not Patron.objects.exists()


def test_dos_patrons_file_that_decodes_as_windows_1252_is_not_imported_garbled(tmp_path, branch):
    # "Françoise Dupré" in CP850 is "Fran‡oise Dupr‚" read as Windows-1252: every byte
    # is defined there, so only the odd characters inside words give it away.
    path = write(tmp_path, PATRONS + "1;Françoise;Dupré;;PDI;\n2;Gérard;Lefèvre;;PDI;\n", "cp850")

    report = import_patrons(path)

    assert [p.code for p in report.problems] == ["bad_encoding"]
    assert not Patron.objects.exists()
    report = import_patrons(path, encoding="cp850")
    assert report.created == 2
    assert Patron.objects.get(card_number="1").first_name == "Françoise"


def test_real_windows_1252_file_with_curly_apostrophes_is_still_read(tmp_path, branch):
    rows = "1;Zoë;L’Hôte;;PDI;\n2;Renée;O’Brien;;PDI;\n3;Lætitia;Sœur;;PDI;\n"
    path = write(tmp_path, PATRONS + rows, "cp1252")

    report = import_patrons(path)

    assert (report.created, [p.code for p in report.problems]) == (3, ["encoding"])
    assert Patron.objects.get(card_number="1").last_name == "L’Hôte"


def test_utf8_file_with_one_broken_row_skips_that_row_only(tmp_path, branch):
    text = PATRONS.encode() + "1;Hélène;Dupré;;PDI;\n".encode()
    text += b"2;Ren\xe9e;Martin;;PDI;\n"  # one row pasted from a Windows-1252 file
    text += "3;Léo;Bérard;;PDI;\n".encode()

    report = import_patrons(write(tmp_path, text))

    assert codes(report) == [("bad_encoding", 3)]
    assert sorted(Patron.objects.values_list("first_name", flat=True)) == ["Hélène", "Léo"]


def test_field_longer_than_the_csv_limit_is_reported_and_the_import_goes_on(tmp_path, crx, branch):
    huge = "x" * 140_000
    path = write(tmp_path, COPIES + f"J001;koha:1;{huge};CRX;\nJ002;koha:1;R;CRX;\n")
    report, _ = copies(path)
    assert codes(report) == [("bad_row", 2)]
    assert list(Copy.objects.values_list("barcode", flat=True)) == ["J002"]

    path = write(tmp_path, PATRONS + f"1;{huge};Martin;;PDI;\n2;Léo;Martin;;PDI;\n", name="p.csv")
    report = import_patrons(path)
    assert codes(report) == [("bad_row", 2)]
    assert report.skipped == 1 and Patron.objects.get().card_number == "2"


def test_encoding_option_of_both_commands(tmp_path, crx, branch):
    out, err = io.StringIO(), io.StringIO()
    path = write(tmp_path, COPIES + "J002;koha:1;R Garçon;CRX;\n", "mac_roman")
    call_command("import_copies", str(path), "--encoding", "mac_roman", stdout=out, stderr=err)
    assert Copy.objects.get().call_number == "R Garçon"
    path = write(tmp_path, PATRONS + "1;Françoise;Dupré;;PDI;\n", "cp850", name="p.csv")
    call_command("import_patrons", str(path), "--encoding", "cp850", stdout=out, stderr=err)
    assert Patron.objects.get().first_name == "Françoise"
    for command in ("import_copies", "import_patrons"):
        with pytest.raises(CommandError):
            call_command(command, str(path), "--encoding", "klingon", stdout=out, stderr=err)


# --- 2. values the database would refuse ----------------------------------------------


def test_over_long_barcode_and_call_number_are_reported_not_written(tmp_path, crx):
    path = write(
        tmp_path, COPIES + f"{'B' * 51};koha:1;R;CRX;\nJ002;koha:1;{'R' * 201};CRX;\nJ003;koha:1;R;CRX;\n"
    )

    report, _ = copies(path)

    assert codes(report) == [("value_too_long", 2), ("value_too_long", 3)]
    assert "barcode" in report.problems[0].message and "call_number" in report.problems[1].message
    assert list(Copy.objects.values_list("barcode", flat=True)) == ["J003"]


def test_a_copy_the_database_refuses_does_not_end_the_import(tmp_path, crx, monkeypatch):
    # Another import creates J002 between our read and our write: the batch's INSERT
    # fails on the unique barcode; the batch is retried row by row.
    real = Copy.objects.bulk_create

    def meanwhile(objs, *args, **kw):
        if any(c.barcode == "J002" for c in objs):
            Copy.objects.create(barcode="J002", record=Record.objects.get(), branch=crx)
        return real(objs, *args, **kw)

    monkeypatch.setattr(Copy.objects, "bulk_create", meanwhile)
    monkeypatch.setattr(csv_import, "RETRY_PAUSE", 0.001)  # refused every time: 5 s of pauses
    path = write(tmp_path, COPIES + "J001;koha:1;R;CRX;\nJ002;koha:1;R;CRX;\nJ003;koha:1;R;CRX;\n")

    report, _ = copies(path)

    assert codes(report) == [("database_error", 3)]
    assert (report.created, report.skipped) == (2, 1)
    assert sorted(Copy.objects.values_list("barcode", flat=True)) == ["J001", "J003"]


def test_a_value_postgresql_refuses_ends_neither_import(tmp_path, crx, branch, monkeypatch, postgres):
    """The last net: a value the checks let through (here: made to) fails at the
    database, in its own savepoint; the rows after it still go in."""
    monkeypatch.setitem(csv_import.LIMITS, "barcode", 1000)
    path = write(tmp_path, COPIES + f"J001;koha:1;R;CRX;\n{'B' * 51};koha:1;R;CRX;\nJ003;koha:1;R;CRX;\n")
    report, _ = copies(path)
    assert codes(report) == [("database_error", 3)]
    assert sorted(Copy.objects.values_list("barcode", flat=True)) == ["J001", "J003"]

    monkeypatch.setitem(patron_importer.LIMITS, "phone", 1000)
    path = write(tmp_path, PATRONS + f"1;A;B;{'0' * 41};PDI;\n2;C;D;;PDI;\n", name="p.csv")
    report = import_patrons(path)
    assert codes(report) == [("database_error", 2)]
    assert Patron.objects.get().card_number == "2"


def test_over_long_patron_values_are_reported_by_column(tmp_path, branch):
    path = write(
        tmp_path,
        PATRONS
        + f"{'1' * 31};A;B;;PDI;\n"
        + f"2;{'A' * 151};B;;PDI;\n"
        + f"3;A;B;{'0' * 41};PDI;\n"
        + "4;A;B;;PDI;\n",
    )

    report = import_patrons(path)

    assert codes(report) == [("value_too_long", 2), ("value_too_long", 3), ("value_too_long", 4)]
    columns = ("card_number", "first_name", "phone")
    assert all(c in p.message for c, p in zip(columns, report.problems, strict=True))
    assert list(Patron.objects.values_list("card_number", flat=True)) == ["4"]


def test_a_patron_row_the_database_refuses_does_not_end_the_import(tmp_path, branch, monkeypatch):
    real = Patron.save

    def refuse(patron, *args, **kw):
        if patron.card_number == "1":
            raise IntegrityError("refused")
        return real(patron, *args, **kw)

    monkeypatch.setattr(Patron, "save", refuse)
    report = import_patrons(write(tmp_path, PATRONS + "1;A;B;;PDI;\n2;C;D;;PDI;\n"))

    assert codes(report) == [("database_error", 2)]
    assert Patron.objects.get().card_number == "2"


def test_user_left_behind_by_a_deleted_patron_is_reused(tmp_path, branch):
    path = write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;1234\n")
    import_patrons(path)
    user = Patron.objects.get().user
    issue_token(user=user, scope="patron")
    Patron.objects.all().delete()  # in the admin: the user stays

    report = import_patrons(write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;\n"))

    assert (report.created, report.problems) == (1, [])
    assert Patron.objects.get().user_id == user.pk
    # Whatever the old account could do, the new patron cannot inherit it.
    user.refresh_from_db()
    assert not user.has_usable_password() and not ApiToken.objects.exists()


def test_staff_account_named_like_a_card_is_not_turned_into_a_patron(tmp_path, branch):
    User = get_user_model()
    User.objects.create_user(username="1", password="secret-staff-pw", is_staff=True)
    StaffRole.objects.create(user=User.objects.create_user(username="2"), role="picker")

    report = import_patrons(write(tmp_path, PATRONS + "1;A;B;;PDI;\n2;C;D;;PDI;\n3;E;F;;PDI;\n"))

    assert codes(report) == [("username_taken", 2), ("username_taken", 3)]
    assert list(Patron.objects.values_list("card_number", flat=True)) == ["3"]
    assert User.objects.get(username="1").check_password("secret-staff-pw")


# --- 3. statuses our own circulation owns ---------------------------------------------


def statuses():
    return dict(Copy.objects.values_list("barcode", "status"))


def test_nightly_status_column_does_not_undo_our_missing(tmp_path, crx):
    nightly = write(tmp_path, COPIES + "J001;koha:1;R;CRX;on_shelf\n")
    copies(nightly)
    Copy.objects.update(status=CopyStatus.MISSING)  # our picker did not find it

    report, _ = copies(nightly)

    assert (statuses(), report.problems) == ({"J001": CopyStatus.MISSING}, [])
    # News from the source still applies.
    copies(write(tmp_path, COPIES + "J001;koha:1;R;CRX;withdrawn\n"))
    assert statuses() == {"J001": CopyStatus.WITHDRAWN}


@pytest.mark.parametrize("ours", [CopyStatus.IN_TRANSIT, CopyStatus.SET_ASIDE, CopyStatus.HOLD_SHELF])
def test_csv_never_moves_a_copy_our_circulation_holds(tmp_path, crx, ours):
    copies(write(tmp_path, COPIES + "J001;koha:1;R;CRX;on_loan\n"))
    Copy.objects.update(status=ours)

    report, _ = copies(write(tmp_path, COPIES + "J001;koha:1;R;CRX;on_shelf\n"))

    assert statuses() == {"J001": ours}
    assert [(p.code, p.barcode) for p in report.problems] == [("status_kept", "J001")]


@pytest.mark.parametrize("ours", [CopyStatus.IN_TRANSIT, CopyStatus.SET_ASIDE, CopyStatus.HOLD_SHELF])
def test_csv_never_moves_a_held_copy_to_another_record_or_branch(tmp_path, crx, ours):
    """A patron asked for this copy of this record, here: the nightly file's move waits."""
    Record.objects.create(source_key="koha:2", title="Le renard")
    make_branch(code="PDI", name="Part-Dieu")
    copies(write(tmp_path, COPIES + "J001;koha:1;R;CRX;on_shelf\n"))
    Copy.objects.update(status=ours)

    report, _ = copies(write(tmp_path, COPIES + "J001;koha:2;R;PDI;on_shelf\n"))

    copy = Copy.objects.get()
    assert (copy.record.source_key, copy.branch.code, copy.status) == ("koha:1", "CRX", ours)
    assert [p.code for p in report.problems] == ["placement_kept"]
    # Back on the shelf (returned, received): the next file moves it.
    Copy.objects.update(status=CopyStatus.ON_SHELF)
    copies(write(tmp_path, COPIES + "J001;koha:2;R;PDI;on_shelf\n"))
    copy.refresh_from_db()
    assert (copy.record.source_key, copy.branch.code) == ("koha:2", "PDI")


def test_csv_does_not_shelve_a_copy_lent_at_our_door(tmp_path, crx):
    from emporter.desk.models import Loan

    copies(write(tmp_path, COPIES + "J001;koha:1;R;CRX;missing\nJ002;koha:1;R;CRX;missing\n"))
    Copy.objects.update(status=CopyStatus.ON_LOAN)
    Loan.objects.create(copy=Copy.objects.get(barcode="J001"), branch=crx, due_date=datetime.date(2030, 1, 1))

    report, _ = copies(write(tmp_path, COPIES + "J001;koha:1;R;CRX;on_shelf\nJ002;koha:1;R;CRX;on_shelf\n"))

    assert statuses() == {"J001": CopyStatus.ON_LOAN, "J002": CopyStatus.ON_SHELF}
    assert [(p.code, p.barcode) for p in report.problems] == [("status_kept", "J001")]


# --- 4. PINs ----------------------------------------------------------------------------


def test_nightly_reimport_keeps_the_pin_hash_and_the_sessions(tmp_path, branch):
    path = write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;1234\n")
    import_patrons(path)
    user = Patron.objects.get().user
    session_hash = user.get_session_auth_hash()

    report = import_patrons(path)

    user.refresh_from_db()
    assert (report.updated, report.unchanged) == (0, 1) and user.get_session_auth_hash() == session_hash


def test_changed_pin_of_an_existing_patron_needs_set_pins_and_revokes_tokens(tmp_path, branch):
    import_patrons(write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;1234\n"))
    user = Patron.objects.get().user
    issue_token(user=user, scope="patron")
    changed = write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;9999\n")

    report = import_patrons(changed)
    assert authenticate(username="1", password="1234", patron_sign_in=True) == user
    assert report.pins_ignored == 1 and "--set-pins" in report.summary()

    report = import_patrons(changed, set_pins=True)
    assert authenticate(username="1", password="9999", patron_sign_in=True) == user
    assert report.pins_set == 1 and not ApiToken.objects.exists()

    issue_token(user=user, scope="patron")
    user.refresh_from_db()
    session_hash = user.get_session_auth_hash()
    report = import_patrons(changed, set_pins=True)  # the same PIN again: nothing to do
    user.refresh_from_db()
    assert (report.pins_set, user.get_session_auth_hash()) == (0, session_hash)
    assert ApiToken.objects.count() == 1


def test_set_pins_option_of_the_command(tmp_path, branch):
    import_patrons(write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;1234\n"))
    path = write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;9999\n")
    call_command("import_patrons", str(path), "--set-pins", stdout=io.StringIO(), stderr=io.StringIO())
    assert authenticate(username="1", password="9999", patron_sign_in=True) is not None


def test_pin_of_non_ascii_digits_is_refused(tmp_path, branch):
    report = import_patrons(write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;١٢٣٤\n"))
    assert codes(report) == [("bad_pin", 2)]


def test_a_pin_easy_to_guess_is_set_and_reported(tmp_path, branch):
    report = import_patrons(write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;1234\n2;Paul;Roux;;PDI;4821\n"))
    assert report.created == 2 and report.pins_set == 2
    assert codes(report) == [("pin_too_easy", 2)]
    assert authenticate(username="1", password="1234", patron_sign_in=True) is not None
    # A re-import that sets nothing says nothing.
    assert codes(import_patrons(write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;1234\n"))) == []


def test_pins_are_hashed_before_the_rows_transaction(tmp_path, branch, monkeypatch):
    # On SQLite a hash inside the transaction held the write lock for most of each row:
    # staff signing in meanwhile waited 20 s, then got "database is locked".
    from django.db import connection

    from emporter.patrons import importer

    depths = []  # how many transactions deep each hash was made
    real = importer.hash_pin

    def watched(*args, **kwargs):
        depths.append(len(connection.atomic_blocks))
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "hash_pin", watched)
    outside = len(connection.atomic_blocks)  # the test's own transaction
    report = import_patrons(write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;4821\n2;Paul;Roux;;PDI;5937\n"))
    assert report.pins_set == 2
    report = import_patrons(write(tmp_path, PATRONS + "1;Anne;Martin;;PDI;6048\n"), set_pins=True)
    assert (
        report.pins_set == 1 and authenticate(username="1", password="6048", patron_sign_in=True) is not None
    )
    assert depths == [outside] * 3
