"""A pick list costs the same few queries however long it is (seventeenth session: the
list reads only the columns it shows, and a field it forgot would cost a query a line)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from emporter.holds.services import cancel_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import pdf, selectors
from emporter.picking import services as picking
from emporter.picking.models import NotFoundCause
from tests.conftest import make_branch, make_department, make_location, make_patron, make_record
from tests.test_picking_pages import make_picker, morning_run, place, shelve


def _lines_of_every_kind(branch, other, n):
    """n of each: pending, found into a bag, not found with a cause, leaving for another
    library, found for a request cancelled meanwhile (back on the shelf)."""
    shelf = make_location(make_department(branch, code=f"d{n}"), code=f"l{n}", hint="au fond")
    requests = []
    for i in range(5 * n):
        patron = make_patron(branch, card=f"3{n:02d}{i:05d}", last_name=f"Élan{i}")
        record = make_record(f"Titre {n}-{i}", copies=[branch], responsibility="Une autrice")
        shelve(record, shelf, f"R {i:03d}")
        requests.append(place(patron, record, other if i % 5 == 3 else branch))
    run = morning_run(branch)
    for i, line in enumerate(run.lines.order_by("pk")):
        kind = i % 5
        if kind in (1, 3):
            picking.mark_found(line=line)
        elif kind == 2:
            picking.mark_not_found(line=line, cause=NotFoundCause.DAMAGED, reason="coin mangé")
        elif kind == 4:
            cancel_request(request=line.request)
            picking.mark_found(line=line)
    return run


def _queries(client, run):
    with CaptureQueriesContext(connection) as html:
        assert client.get(reverse("picking:run", args=[run.pk])).status_code == 200
    with CaptureQueriesContext(connection) as phone:
        assert client.get(reverse("picking:pick", args=[run.pk])).status_code == 200
    with CaptureQueriesContext(connection) as printed:
        pdf.pick_list(run=run, sections=selectors.sections(selectors.run_lines(run)))
    return len(html), len(phone), len(printed)


def test_a_pick_list_costs_the_same_queries_at_any_length(client, branch):
    other = make_branch(code="CRX", name="Croix-Rousse")
    second = make_branch(code="VAI", name="Vaise")
    picker = make_picker(branch)
    StaffRole.objects.create(user=picker, role=Role.PICKER, branch=second)
    client.force_login(picker)
    short = _queries(client, _lines_of_every_kind(branch, other, 1))
    longer = _queries(client, _lines_of_every_kind(second, other, 3))
    assert short == longer


def test_the_list_shows_what_each_line_needs(client, branch):
    other = make_branch(code="CRX", name="Croix-Rousse")
    client.force_login(make_picker(branch))
    run = _lines_of_every_kind(branch, other, 1)
    page = client.get(reverse("picking:run", args=[run.pk])).content.decode()
    shown = ("Titre 1-0", "Une autrice", "R 000", "Livre", "→ Croix-Rousse", "remis en rayon", "coin mangé")
    for said in shown:
        assert said in page, said
