"""One rule says which copies a request could take; search writes it in SQL. They agree."""

import itertools

from django.db import connection

from emporter.catalogue import search
from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.network.models import ServiceMode
from tests.conftest import make_branch, make_department, make_location, make_record


def _every_kind_of_copy():
    """A copy for each combination of what the rule looks at."""
    lending = make_branch("LND", "Lends", mode=ServiceMode.CLICK_COLLECT)
    closed = make_branch("CLO", "Closed", mode=ServiceMode.CLOSED)
    shelves = {
        branch.code: {
            "open shelf": make_location(make_department(branch), code="romans"),
            "reference": make_location(make_department(branch, code="ref"), code="usuels", requestable=False),
            "no location": None,
        }
        for branch in (lending, closed)
    }
    record = make_record("Tout")
    serial = itertools.count()
    statuses = (CopyStatus.ON_SHELF, CopyStatus.ON_LOAN, CopyStatus.MISSING)
    for branch, status, has_barcode, where in itertools.product(
        (lending, closed), statuses, (True, False), ("open shelf", "reference", "no location")
    ):
        Copy.objects.create(
            record=record,
            branch=branch,
            status=status,
            barcode=f"X{next(serial)}" if has_barcode else None,
            location=shelves[branch.code][where],
        )
    return record


def test_the_queryset_the_python_and_the_search_sql_agree(db):
    record = _every_kind_of_copy()
    by_queryset = set(Copy.objects.requestable().values_list("pk", flat=True))
    copies = Copy.objects.select_related("branch", "location")
    by_python = {copy.pk for copy in copies if copy.is_requestable}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM catalogue_copy c WHERE {search.COPY_REQUESTABLE}"
            f" AND c.branch_id IN ({search.LENDING_SELECT})",
            [CopyStatus.ON_SHELF, *search._lending_params()],
        )
        by_sql = {row[0] for row in cursor.fetchall()}
    # Only the copy on the shelf, with a barcode, at the lending library: on an open
    # shelf or on none at all.
    expected = set(
        Copy.objects.filter(branch__code="LND", status=CopyStatus.ON_SHELF, barcode__isnull=False)
        .exclude(location__code="usuels")
        .values_list("pk", flat=True)
    )
    assert len(expected) == 2
    assert by_queryset == by_python == by_sql == expected
    # And "could ever be served from": the same three ways.
    lendable = set(Copy.objects.lendable().values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM catalogue_copy c WHERE {search.COPY_LENDABLE}", [CopyStatus.WITHDRAWN]
        )
        lendable_sql = {row[0] for row in cursor.fetchall()}
    assert lendable == lendable_sql == {copy.pk for copy in copies if copy.is_lendable}
    assert lendable and lendable != set(Copy.objects.values_list("pk", flat=True))
    assert list(Record.objects.filter(pk=record.pk).available()) == [record]


def test_a_record_whose_only_shelved_copy_is_for_reference_is_not_available(db):
    branch = make_branch()
    reference = make_location(make_department(branch), code="usuels", requestable=False)
    record = make_record("Dictionnaire")
    Copy.objects.create(record=record, branch=branch, barcode="D1", location=reference)
    Copy.objects.create(record=record, branch=branch, barcode="D2", status=CopyStatus.ON_LOAN)
    assert not Record.objects.filter(pk=record.pk).available().exists()


def test_the_records_summary_on_postgresql_keeps_the_same_rule(postgres):
    """Migration 0011's trigger writes where a copy could be taken from the shelf (the
    library's service mode is applied when searching): the same copies as the rule."""
    record = _every_kind_of_copy()
    with connection.cursor() as cursor:  # a column of the database's, not a model field
        cursor.execute("SELECT shelf_branches FROM catalogue_record WHERE id = %s", [record.pk])
        shelf_branches = set(cursor.fetchone()[0])
    ignoring_mode = Copy.objects.filter(
        record=record, status=CopyStatus.ON_SHELF, barcode__isnull=False
    ).exclude(location__requestable=False)
    assert shelf_branches == set(ignoring_mode.values_list("branch_id", flat=True))
    assert set(Copy.objects.requestable().values_list("branch_id", flat=True)) < shelf_branches
