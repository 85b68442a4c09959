"""The stats API is for machines: a row says what it counts with a stable code, beside the
label in the reader's language (an integrator's report keyed on "En ligne" broke when a
server or a client asked in English). The page, the CSV files and the PDF keep their labels."""

import csv
import io

import pytest
from django.urls import reverse

from emporter.network.models import Branch, Department
from emporter.patrons.models import Role
from emporter.stats import selectors, tables
from tests.test_api import V1
from tests.test_api_staff import sign_in, staff_user
from tests.test_stats import PARAMS, PERIOD, api_token, built_history, history, staff  # noqa: F401 (fixtures)

LANGUAGES = ("fr", "en")


def _rows(client, headers, name, params=None):
    return {
        lang: client.get(
            f"{V1}/stats/{name}", params or {}, headers=headers | {"Accept-Language": lang}
        ).json()["rows"]
        for lang in LANGUAGES
    }


@pytest.mark.parametrize("name", ["channels", "closings", "delays", "key_figures"])
def test_stats_rows_are_keyed_the_same_in_every_language(client, branch, name):
    staff_user("maud", role=Role.BRANCH_MANAGER, branch=branch)
    rows = _rows(client, sign_in(client, "maud"), name)
    first_column = [list(row.values())[0] for row in rows["fr"]]
    assert first_column == [list(row.values())[0] for row in rows["en"]], (
        "each row is named by a translated label: " + repr(first_column)
    )


def test_each_labelled_row_has_a_code_before_its_label_in_both_languages(client, history):  # noqa: F811
    rows = _rows(client, api_token(client, "nadia", Role.NETWORK_ADMIN), "channels", PARAMS)
    for lang, label in (("fr", "En ligne"), ("en", "Online")):
        assert rows[lang][0] == {"code": "online", "channel": label, "requests": 9, "share": 0.75}
        assert [r["code"] for r in rows[lang]] == ["online", "app", "phone", "desk", "surprise"]


def test_closings_delays_and_doc_types_are_coded(client, history):  # noqa: F811
    headers = api_token(client, "nadia", Role.NETWORK_ADMIN)
    closings = _rows(client, headers, "closings", PARAMS)
    for lang, label in (("fr", "Expirée"), ("en", "Expired")):
        by_code = {r["code"]: r for r in closings[lang]}
        assert list(by_code) == ["collected", "expired", "not_found", "cancelled"]
        assert by_code["expired"]["outcome"] == label and by_code["expired"]["requests"] == 2
    delays = _rows(client, headers, "delays", PARAMS)
    for lang, label in (("fr", "De la mise à disposition au retrait"), ("en", "Ready to pickup")):
        by_code = {r["code"]: r for r in delays[lang]}
        assert list(by_code) == ["request_to_ready", "set_aside_to_ready", "ready_to_pickup"]
        assert by_code["ready_to_pickup"]["measure"] == label
        assert by_code["ready_to_pickup"]["median"] == 24 * 3600
    doc_types = _rows(client, headers, "pick_by_doc_type", PARAMS)
    assert {r["code"]: r["doc_type"] for r in doc_types["en"]} == {"dvd": "DVD", "book": "Book"}
    assert {r["code"]: r["doc_type"] for r in doc_types["fr"]} == {"dvd": "DVD", "book": "Livre"}
    assert [r["not_found"] for r in doc_types["fr"]] == [r["not_found"] for r in doc_types["en"]]


def test_key_figure_rows_are_coded_as_the_dashboards_key_figures(client, history):  # noqa: F811
    headers = api_token(client, "nadia", Role.NETWORK_ADMIN)
    rows = _rows(client, headers, "key_figures", PARAMS)
    whole = client.get(f"{V1}/stats", PARAMS, headers=headers | {"Accept-Language": "en"}).json()
    for lang in LANGUAGES:
        assert {r["code"]: r["value"] for r in rows[lang]} == whole["key_figures"]
    assert {r["code"]: r["figure"] for r in rows["en"]}["requests"] == "Requests placed"
    assert whole["tables"]["key_figures"] == rows["en"]
    assert whole["tables"]["channels"][0]["code"] == "online"


def test_branch_rows_have_the_branch_code_before_the_name(client, history):  # noqa: F811
    headers = api_token(client, "nadia", Role.NETWORK_ADMIN)
    names = {"PDI": "Bibliothèque de la Part-Dieu", "CRX": "Médiathèque de la Croix-Rousse"}
    for name in ("pick_by_branch", "pick_by_department", "workload"):
        for lang, rows in _rows(client, headers, name, PARAMS).items():
            assert rows, (name, lang)
            for row in rows:
                assert list(row)[0] == "branch_code" and "branch" in row, (name, row)
                assert names[row["branch_code"]] == row["branch"]
    departments = _rows(client, headers, "pick_by_department", PARAMS)["en"]
    assert list(departments[0])[:3] == ["branch_code", "department_code", "branch"]
    assert {(r["branch_code"], r["department_code"], r["department"]) for r in departments} == {
        (d.branch.code, d.code, d.name) for d in Department.objects.select_related("branch")
    }
    assert len(departments) == 3


def test_two_branches_of_one_name_keep_their_own_codes(history):  # noqa: F811
    Branch.objects.filter(code="CRX").update(name="Bibliothèque de la Part-Dieu")
    d = selectors.dashboard(period=PERIOD, branches=list(Branch.objects.all()))
    assert sorted(r["branch_code"] for r in tables.machine_records(tables.pick_by_branch(d))) == [
        "CRX",
        "PDI",
    ]


def test_the_page_the_csv_and_the_pdf_keep_their_labels_without_codes(client, history):  # noqa: F811
    # The codes are no column: the page, the CSV files and the PDF go through the columns.
    d = selectors.dashboard(period=PERIOD, branches=list(Branch.objects.all()))
    for table in tables.all_tables(d).values():
        assert all(c.key not in ("code", "branch_code") for c in table.columns), table.name
        assert all(len(row) == len(table.columns) for row in table.rows), table.name
    staff(client, "nadia", Role.NETWORK_ADMIN)
    response = client.get(reverse("stats:csv", args=["channels"]), PARAMS)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Canal", "Réservations", "Part (%)"]
    assert rows[1] == ["En ligne", "9", "75,0"]
    response = client.get(reverse("stats:csv", args=["closings"]), PARAMS)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Issue" and "Expirée" in [r[0] for r in rows[1:]]
    page = client.get(reverse("stats:dashboard"), PARAMS).text
    assert '<th scope="row">En ligne</th>' in page and '<th scope="row">online</th>' not in page
