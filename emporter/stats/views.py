"""The dashboard for branch managers (their branches) and network administrators (all),
its CSV exports and the printable service report."""

from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from emporter.holds.models import Channel
from emporter.network.models import Branch
from emporter.patrons.models import Role
from emporter.patrons.permissions import branches_for, role_required

from . import charts, selectors, tables
from .forms import PeriodForm

manager_required = role_required(Role.BRANCH_MANAGER)


def _selection(request):
    scope = branches_for(request.user, Role.BRANCH_MANAGER)
    form = PeriodForm(request.GET or None, scope=scope)
    period, branches = form.selection()
    if not form.is_bound:
        # The form shows what the page shows (the last 30 days, the manager's branch),
        # not empty fields under figures for a period it does not name.
        initial = {"start": period.start, "end": period.end}
        if len(branches) == 1:
            initial["branch"] = branches[0]
        form = PeriodForm(initial=initial, scope=scope)
    return form, period, branches


def _query(period, branches) -> str:
    """The selection as a query string, for the CSV and PDF links."""
    params = {"start": period.start.isoformat(), "end": period.end.isoformat()}
    if len(branches) == 1:
        params["branch"] = branches[0].pk
    return urlencode(params)


def _display(table: tables.Table) -> dict:
    return {
        "table": table,
        "rows": [
            [tables.display(v, c.kind) for c, v in zip(table.columns, row, strict=True)] for row in table.rows
        ],
    }


def _rate(outcome: selectors.Outcome) -> str:
    return f"{tables.display(outcome.not_found_rate, tables.RATE)} ({outcome.not_found}/{outcome.marked})"


def _charts(d: selectors.Dashboard) -> dict:
    days = [f"{row.day:%d/%m}" for row in d.per_day]
    by_channel = [(str(label), [row.counts[value] for row in d.per_day]) for value, label in Channel.choices]
    return {
        "requests_per_day": charts.columns(days, by_channel, title=_("Requests placed per day")),
        "loans_per_day": charts.columns(
            days, [(_("Loans"), [n for _, n in d.loans_per_day])], title=_("Loans at the door per day")
        ),
        "pick_by_department": charts.bars(
            [(f"{o.label} — {o.branch}", o.not_found_rate, _rate(o)) for o in d.by_department[:15]],
            title=_("Not-found rate by department"),
            percent=True,
        ),
        "pick_by_doc_type": charts.bars(
            [(o.label, o.not_found_rate, _rate(o)) for o in d.by_doc_type],
            title=_("Not-found rate by document type"),
            percent=True,
        ),
        "closings": charts.bars(
            [(str(row[0]), row[1], tables.display(row[1], tables.INT)) for row in tables.closings(d).rows],
            title=_("How requests ended"),
        ),
    }


@manager_required
def dashboard(request):
    form, period, branches = _selection(request)
    d = selectors.dashboard(period=period, branches=branches)
    context = {
        "form": form,
        "period": period,
        "branches": branches,
        "dashboard": d,
        "tables": {name: _display(t) for name, t in tables.all_tables(d).items()},
        "charts": _charts(d),
        "query": _query(period, branches),
    }
    return render(request, "stats/dashboard.html", context)


@manager_required
def export_csv(request, name: str):
    if name not in tables.BUILDERS:
        raise Http404
    form, period, branches = _selection(request)
    table = tables.BUILDERS[name](selectors.dashboard(period=period, branches=branches))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    # Today's workload is of today, whatever period the page shows.
    dates = timezone.localdate() if name == "workload" else f"{period.start}-{period.end}"
    filename = f"emporter-{name}{_scope_tag(branches)}-{dates}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    tables.write_csv(table, response)
    return response


def _scope_tag(branches) -> str:
    """ "-PDI" in a file name for one library's figures: two libraries' exports of the
    same period are two files, not one overwriting the other."""
    return f"-{branches[0].code}" if len(branches) == 1 else ""


@manager_required
def report_pdf(request):
    from . import report  # (fpdf takes half a second to import: not at a web process's first page)

    form, period, branches = _selection(request)
    whole = len(branches) == Branch.objects.count()
    content = report.service_report(period=period, branches=branches, whole_network=whole)
    response = HttpResponse(content, content_type="application/pdf")
    # "emporter-rapport-…" in French: the file is named in the reader's language too.
    name = _("report")
    filename = f"emporter-{name}{_scope_tag(branches)}-{period.start}-{period.end}.pdf"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
