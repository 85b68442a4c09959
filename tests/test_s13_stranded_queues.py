"""The waiting-list sweep and the imports (the thirteenth session's second adversarial
review): a title weeded at the source closes its queue after a month; a nightly status
CSV beside the MARC import does not keep a dead queue alive (the MARC import keeps what
the CSV noted); the MARC import keeps a held copy's call number, as the CSV import does."""

import datetime

import pymarc
from django.utils import timezone

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.models import Copy, CopyStatus
from emporter.holds.models import Status
from emporter.holds.services import close_waiting_without_copies, place_request
from tests.conftest import make_branch, make_patron
from tests.test_import_marc import NOT_OUT, koha_items, run, write


def _marc(control, title, *items, drop=()):
    record = koha_items(*items)
    record.remove_fields("001", "245")
    record.add_field(pymarc.Field("001", data=control))
    record.add_field(pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", title)]))
    for field in record.get_fields("952"):
        for code in drop:
            field.delete_subfield(code)
    return record.as_marc()


def test_a_title_weeded_in_koha_does_not_keep_its_waiting_list_for_ever(db, tmp_path):
    """--withdraw-missing: a copy deleted in Koha (weeding) is withdrawn as 'absent',
    thought to come back for a month (ABSENT_FOR_GOOD_AFTER), then its queue is told."""
    branch = make_branch()
    shelf = [(f"W{n:02d}", NOT_OUT) for n in range(1, 11)]
    full = [_marc("k1", "Le loup", *shelf), _marc("k2", "Le Horla", ("W00", [*NOT_OUT, ("q", "2030-12-01")]))]
    run([write(tmp_path, "koha.mrc", full)])
    horla = Copy.objects.get(barcode="W00").record
    request, _ = place_request(patron=make_patron(branch), record_id=horla.pk, pickup_branch=branch)
    assert request.status == Status.WAITING
    run([write(tmp_path, "koha.mrc", full[:1])], withdraw_missing=True)  # weeded in Koha
    assert Copy.objects.get(barcode="W00").status == CopyStatus.WITHDRAWN
    # Two months of nightly exports that never list it again.
    Copy.objects.filter(barcode="W00").update(updated_at=timezone.now() - datetime.timedelta(days=60))
    assert close_waiting_without_copies() == 1
    request.refresh_from_db()
    assert request.status == Status.NOT_FOUND


def test_marc_import_keeps_a_held_copys_call_number_like_the_csv_import(db, tmp_path):
    """An item's empty call-number subfield (952$o) leaves a held copy's call number."""
    branch = make_branch()
    run([write(tmp_path, "koha.mrc", [_marc("k1", "Le Horla", ("H1", NOT_OUT))])])
    copy = Copy.objects.get(barcode="H1")
    assert copy.call_number == "CALL H1"
    request, _ = place_request(patron=make_patron(branch), record_id=copy.record_id, pickup_branch=branch)
    copy.refresh_from_db()
    assert copy.status == CopyStatus.SET_ASIDE
    run([write(tmp_path, "koha.mrc", [_marc("k1", "Le Horla", ("H1", NOT_OUT), drop=("o",))])])
    copy.refresh_from_db()
    assert copy.call_number == "CALL H1"  # the picker's pick list shows it


def test_a_nightly_status_csv_beside_the_marc_import_does_not_keep_a_dead_queue_alive(db, tmp_path):
    """A copy written off in Koha (952$0=1) and a nightly inventory CSV beside the MARC
    import: the MARC import dropped the CSV's codes and the CSV wrote them back, so the
    copy changed every night and its queue was never closed."""
    branch = make_branch()
    shelf = [(f"W{n:02d}", NOT_OUT) for n in range(1, 11)]
    out = _marc("k2", "Le Horla", ("W00", [*NOT_OUT, ("q", "2030-12-01")]))
    run([write(tmp_path, "koha.mrc", [_marc("k1", "Le loup", *shelf), out])])
    horla = Copy.objects.get(barcode="W00").record
    request, _ = place_request(patron=make_patron(branch), record_id=horla.pk, pickup_branch=branch)
    assert request.status == Status.WAITING
    written_off = _marc("k2", "Le Horla", ("W00", [("0", "1"), ("1", "0")]))
    marc = write(tmp_path, "koha.mrc", [_marc("k1", "Le loup", *shelf), written_off])
    csv = tmp_path / "statuts.csv"
    csv.write_text("barcode;status\nW00;withdrawn\n", encoding="utf-8")
    run([marc])
    assert Copy.objects.get(barcode="W00").status == CopyStatus.WITHDRAWN
    import_copies(csv)  # the first inventory notes its status: a change, once
    for _night in range(3):
        Copy.objects.update(updated_at=timezone.now() - datetime.timedelta(days=1, hours=1))
        import_copies(csv)  # 02:00 the statuses
        run([marc])  # 03:00 the catalogue
        stamps = Copy.objects.get(barcode="W00").updated_at
        assert timezone.now() - stamps > datetime.timedelta(days=1), "the copy is rewritten every night"
    assert close_waiting_without_copies() == 1
