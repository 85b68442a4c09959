"""Why a copy was not found is kept as a cause (shelf, damaged, other) and the picker's own
words: the run, the pick page and the missing-copies report say the cause in the reader's
language, whoever marked it. Before, "Not on the shelf" was stored in the words of the
picker's language, and a French report showed "Not found (Not on the shelf)"."""

import importlib

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import translation

from emporter.picking.models import LineStatus, PickLine
from tests.conftest import make_record
from tests.test_picking_pages import morning_run, picker_client, place  # noqa: F401 (a fixture)


def _mark(client, line, **form):
    with translation.override("en"):  # an English-speaking picker: the /en/ pages
        url = reverse("picking:mark", args=[line.pk])
    assert url.startswith("/en/")
    return client.post(url, {"action": "not_found", **form})


@pytest.mark.django_db
def test_a_reason_given_in_english_reads_in_french(picker_client, patron, branch):  # noqa: F811
    place(patron, make_record(title="Le Horla", copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    _mark(picker_client, line, reason="shelf", note="behind the comics")
    line.refresh_from_db()
    assert (line.status, line.cause, line.reason) == (LineStatus.NOT_FOUND, "shelf", "behind the comics")
    with translation.override("fr"):  # a French colleague reads the report
        missing = picker_client.get(reverse("picking:missing")).content.decode()
    assert "Pas en rayon\u00a0: behind the comics" in missing
    assert "Not on the shelf" not in missing
    with translation.override("en"):
        assert line.reason_text == "Not on the shelf: behind the comics"
    with translation.override("fr"):
        assert line.reason_text == "Pas en rayon\u00a0: behind the comics"


@pytest.mark.django_db
def test_a_reason_outside_the_list_is_refused(picker_client, patron, branch):  # noqa: F811
    place(patron, make_record(title="Le Horla", copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    _mark(picker_client, line, reason="stolen")
    line.refresh_from_db()
    assert line.status == LineStatus.PENDING


@pytest.mark.django_db
def test_the_upgrade_splits_the_reasons_stored_in_words(patron, branch):
    place(patron, make_record(title="Le Horla", copies=[branch] * 8), branch)
    run = morning_run(branch)
    line = run.lines.get()
    stored = {
        "Pas en rayon": ("shelf", ""),
        "Abîmé\u00a0: couverture arrachée": ("damaged", "couverture arrachée"),
        "Other: left in the returns trolley": ("other", "left in the returns trolley"),
        "Not on the shelf": ("shelf", ""),
        "absent": ("", "absent"),  # no label: kept as the details
        "Autre exemplaire en réserve": ("", "Autre exemplaire en réserve"),  # a word, not the label
        "Autre : sous le chariot\nprès des retours": ("other", "sous le chariot\nprès des retours"),
        "Pas en rayon : ": ("shelf", ""),
    }
    lines = [line] + [
        PickLine.objects.create(run=run, request=line.request, copy=copy, status=LineStatus.NOT_FOUND)
        for copy in line.request.record.copies.exclude(pk=line.copy_id)
    ]
    for pick_line, text in zip(lines, stored, strict=True):
        PickLine.objects.filter(pk=pick_line.pk).update(reason=text, cause="")
    migration = importlib.import_module("emporter.picking.migrations.0003_not_found_cause")
    migration.split_reasons(apps, _editor())
    for pick_line, (text, expected) in zip(lines, stored.items(), strict=True):
        pick_line.refresh_from_db()
        assert (pick_line.cause, pick_line.reason) == expected, text


def _editor():
    """What a migration's RunPython is given, as far as the split reads it."""
    from types import SimpleNamespace

    from django.db import connection

    return SimpleNamespace(connection=connection)


@pytest.mark.django_db
def test_the_upgrade_writes_in_sql_not_once_per_distinct_reason(patron, branch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    place(patron, make_record(title="Le Horla", copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    # "Other" always comes with the picker's words: nearly every reason is a text of its own.
    PickLine.objects.bulk_create(
        PickLine(
            run=line.run,
            request=line.request,
            copy=line.copy,
            status=LineStatus.NOT_FOUND,
            reason=f"Autre : {n}",
        )
        for n in range(1200)
    )
    migration = importlib.import_module("emporter.picking.migrations.0003_not_found_cause")
    with CaptureQueriesContext(connection) as queries:
        migration.split_reasons(apps, _editor())
    assert PickLine.objects.filter(cause="other").count() == 1200
    assert PickLine.objects.filter(cause="other", reason="1199").exists()
    if connection.vendor == "postgresql":  # one UPDATE per cause, in SQL
        assert len([q for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]) == 3


# A line marked by a web process still running the old code after picking/0003 (the
# upgrade's window between migrate and the restart) keeps the cause in its words: it
# reads in the reader's language all the same (fourteenth session's upgrade review).


def test_a_reason_the_old_code_wrote_after_the_migration_reads_in_the_readers_language():
    from emporter.picking.models import PickLine, not_found_text

    with translation.override("en"):
        assert PickLine(cause="", reason="Abîmé\u00a0: eau").reason_text == "Damaged: eau"
        assert not_found_text("", "Autre") == "Other"
        assert not_found_text("", "Pas en rayonnage ailleurs") == "Pas en rayonnage ailleurs"  # no label
    with translation.override("fr"):
        french = not_found_text("", "Not on the shelf: behind the comics")
        assert french == "Pas en rayon\u00a0: behind the comics"
