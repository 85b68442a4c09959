"""The imports page reads a MARC file in the encoding given, as the command does
(twenty-fifth session): a refused record's problem advises "--encoding latin-1", the page
writes it as its "Encoding" field, and the job did not pass it on (nor did the form take
"marc-8", the name the importer itself advises for French MARC-8 records)."""

import pymarc
import pytest

from emporter.catalogue.models import Record
from emporter.imports.models import ImportJob
from tests.conftest import make_branch
from tests.test_imports_page import admin_client, data_dir, send  # noqa: F401 (fixtures)


def _latin1_declared_marc8(tmp_path):
    """A record whose leader says MARC-8 (position 9 blank) and whose title is Latin-1."""
    record = pymarc.Record(leader="00000nam  2200000 a 4500")
    record.add_field(pymarc.Field("001", data="l1"))
    record.add_field(pymarc.Field("008", data="200101s2019    fr            000 0 fre d"))
    record.add_field(pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", "Cafe noir")]))
    data = record.as_marc().replace(b"Cafe noir", b"Caf\xe9 noir")
    path = tmp_path / "ancien.mrc"
    path.write_bytes(data[:9] + b" " + data[10:])
    return path


def test_a_marc_file_is_read_in_the_encoding_its_problem_advises(admin_client, tmp_path):  # noqa: F811
    branch = make_branch()
    path = _latin1_declared_marc8(tmp_path)
    send(admin_client, path, default_branch=branch.code)
    (refused,) = ImportJob.objects.get().problems
    assert "latin-1" in refused["message"] and not Record.objects.exists()
    send(admin_client, path, default_branch=branch.code, encoding="latin-1")
    assert Record.objects.get().title == "Café noir"


@pytest.mark.parametrize(
    ("kind", "encoding", "taken"),
    [
        ("marc", "MARC-8", True),
        ("marc", "iso5426", True),
        ("marc", "cp1252", False),  # a CSV encoding: the MARC reader knows four
        ("copies", "marc-8", False),
        ("copies", "mac_roman", True),
    ],
)
def test_the_form_takes_the_encodings_of_the_files_reader(admin_client, tmp_path, kind, encoding, taken):  # noqa: F811
    path = tmp_path / ("x.mrc" if kind == "marc" else "x.csv")
    path.write_bytes(b"x")
    page = send(admin_client, path, kind=kind, encoding=encoding)
    assert ImportJob.objects.exists() == taken, page.text[:300]
