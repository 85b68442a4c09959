from django.contrib.auth import authenticate
from django.core.management import call_command

from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron

GOOD = """card_number;first_name;last_name;email;phone;home_branch;language;category;guardian;pin
10000100;Hélène;Dupré;helene@example.org;06 11 22 33 44;PDI;fr;adult;;4821
10000101;Léo;Dupré;;;pdi;en;child;10000100;
10000102;Sans;Branche;;;XXX;fr;adult;;
10000103;Mauvais;Courriel;pas-un-courriel;;PDI;fr;adult;;
10000104;Mauvais;Pin;;;PDI;fr;adult;;12
"""


def test_patrons_import_reports_bad_rows_and_imports_the_rest(tmp_path, branch):
    path = tmp_path / "patrons.csv"
    path.write_text(GOOD, encoding="utf-8")
    report = import_patrons(path)
    # A PIN that is not one costs the PIN, not the row: created without one, and said.
    assert (report.created, report.updated, report.skipped) == (3, 0, 2)
    assert [(p.line, p.code) for p in report.problems] == [(4, "no_branch"), (5, "bad_email"), (6, "bad_pin")]
    assert not Patron.objects.get(card_number="10000104").user.has_usable_password()
    helene = Patron.objects.get(card_number="10000100")
    assert (helene.first_name, helene.phone_digits) == ("Hélène", "0611223344")
    leo = Patron.objects.get(card_number="10000101")
    assert (leo.guardian, leo.category, leo.language) == (helene, "child", "en")
    assert authenticate(username="10000100", password="4821", patron_sign_in=True) == helene.user
    assert not leo.user.has_usable_password()


def test_reimport_updates_instead_of_duplicating(tmp_path, branch):
    path = tmp_path / "patrons.csv"
    path.write_text(GOOD, encoding="utf-8")
    import_patrons(path)
    path.write_text(GOOD.replace("helene@example.org", "h.dupre@example.org"), encoding="utf-8")
    report = import_patrons(path)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)  # only Hélène changed
    assert Patron.objects.get(card_number="10000100").email == "h.dupre@example.org"
    assert Patron.objects.count() == 3


def test_windows_1252_file_and_missing_column(tmp_path, branch):
    path = tmp_path / "latin.csv"
    path.write_bytes("card_number,last_name,home_branch\n10000200,Lefèvre,PDI\n".encode("cp1252"))
    report = import_patrons(path)
    assert report.created == 1 and Patron.objects.get().last_name == "Lefèvre"
    bad = tmp_path / "bad.csv"
    bad.write_text("card,name\n1,x\n", encoding="utf-8")
    report = import_patrons(bad)
    assert report.problems[0].code == "bad_header" and report.created == 0


def test_command_prints_a_summary(tmp_path, branch, capsys):
    path = tmp_path / "patrons.csv"
    path.write_text(GOOD, encoding="utf-8")
    call_command("import_patrons", str(path))
    out, err = capsys.readouterr()
    assert "3 créé·es" in out or "3 created" in out
    assert "XXX" in err


def test_a_file_without_some_columns_leaves_them_alone(tmp_path, branch):
    path = tmp_path / "patrons.csv"
    path.write_text(GOOD, encoding="utf-8")
    import_patrons(path)
    helene = Patron.objects.get(card_number="10000100")
    # Meanwhile she chose English, and to be told by text message.
    Patron.objects.filter(pk=helene.pk).update(language="en", notice_channel="sms")

    path.write_text("card_number;last_name;home_branch\n10000100;Dupré-Martin;PDI\n", encoding="utf-8")
    report = import_patrons(path)

    assert (report.updated, report.skipped) == (1, 0)
    helene.refresh_from_db()
    assert helene.last_name == "Dupré-Martin"
    assert (helene.first_name, helene.email, helene.phone_digits) == (
        "Hélène",
        "helene@example.org",
        "0611223344",
    )
    assert (helene.language, helene.notice_channel) == ("en", "sms")


def test_an_empty_cell_in_a_column_the_file_has_does_clear_it(tmp_path, branch):
    path = tmp_path / "patrons.csv"
    path.write_text(GOOD, encoding="utf-8")
    import_patrons(path)
    path.write_text("card_number;last_name;phone;home_branch\n10000100;Dupré;;PDI\n", encoding="utf-8")
    import_patrons(path)
    helene = Patron.objects.get(card_number="10000100")
    assert (helene.phone, helene.phone_digits, helene.email) == ("", "", "helene@example.org")


def test_a_patron_file_sent_again_as_it_was_changes_nothing_and_says_so(tmp_path, branch):
    path = tmp_path / "patrons.csv"
    path.write_text(GOOD, encoding="utf-8")
    import_patrons(path)
    report = import_patrons(path)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert "0 mis·es à jour, 3 inchangé·es" in report.summary()  # French, the site's language
    assert not report.failed
