"""The printable service report (PDF, in French): the key figures of a period beside the
previous period of equal length, and the charts — what the seed's authors wrote by hand.

Charts are drawn with fpdf2's own rectangles (no image library); the embedded font is
``emporter.pdf``'s.
"""

import datetime

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from fpdf import FPDF, FontFace

from emporter.dates import long_date
from emporter.holds.models import Channel
from emporter.pdf import FONT, set_up

from . import selectors, tables
from .charts import PALETTE
from .tables import DURATION, INT, KIND_OF_FIGURE, NUMBER, RATE

PAGE_W = 190  # A4 minus the margins, in mm


def service_report(
    *, period: selectors.Period, branches, whole_network: bool = False, today: datetime.date | None = None
) -> bytes:
    """In the active language: the reader's (French by default)."""
    branches = list(branches)
    with translation.override(translation.get_language() or settings.LANGUAGE_CODE):
        current = selectors.dashboard(period=period, branches=branches, with_workload=False)
        previous = selectors.dashboard(period=period.previous(), branches=branches, with_workload=False)
        return _render(current, previous, branches, whole_network, today or timezone.localdate())


def _document(title: str) -> FPDF:
    pdf = FPDF(format="A4")
    set_up(pdf, title)
    pdf.set_margins(10, 12, 10)
    pdf.set_auto_page_break(True, margin=14)
    return pdf


def _span(period: selectors.Period) -> str:
    return _("from %(start)s to %(end)s") % {
        "start": long_date(period.start, "j F Y"),
        "end": long_date(period.end, "j F Y"),
    }


def _render(current, previous, branches, whole_network: bool, today: datetime.date) -> bytes:
    title = _("Click-and-collect service report")
    pdf = _document(title)
    pdf.add_page()
    _heading(pdf, title, 16)
    pdf.set_font(FONT, "", 10)
    scope = _("Whole network") if whole_network else ", ".join(b.name for b in branches)
    lines = [
        _("Period: %(span)s (%(days)s days)") % {"span": _span(current.period), "days": current.period.days},
        _("Compared with: %(span)s") % {"span": _span(previous.period)},
        _("Branches: %(scope)s") % {"scope": scope},
        _("Computed on %(date)s from the request history.") % {"date": long_date(today, "j F Y")},
    ]
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    _key_figures(pdf, current, previous)
    _requests_chart(pdf, current)
    # Every department: a network of 16 libraries has dozens, and the ones left out would
    # be said nowhere.
    _rate_chart(pdf, _("Not-found rate by department"), current.by_department, with_branch=True)
    _rate_chart(pdf, _("Not-found rate by document type"), current.by_doc_type)
    by_branch = tables.pick_by_branch(current)
    for table in (by_branch, tables.channels(current), tables.closings(current), tables.delays(current)):
        _table(pdf, table)
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str, size: int) -> None:
    # Charts leave their colour as the fill colour; tables would paint their cells with it.
    pdf.set_fill_color(255)
    pdf.ln(2)
    pdf.set_font(FONT, "B", size)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def change(now, before, kind: str) -> str:
    """How a figure moved: percent for counts, points for rates, the gap for the rest."""
    if now is None or before is None:
        return "—"
    if kind == RATE:
        points = formats.number_format(tables.rounded((now - before) * 100), 1)
        return _("%(sign)s%(points)s pts") % {"sign": "+" if now >= before else "", "points": points}
    if kind == DURATION:
        sign = "+" if now >= before else "−"
        return sign + tables.duration_text(abs(now - before))
    if kind == NUMBER:
        return ("+" if now >= before else "") + formats.number_format(tables.rounded(now - before), 1)
    if not before:
        return "—"
    percent = (now - before) / before * 100
    number = formats.number_format(tables.rounded(percent, 0), 0)
    # French puts a (non-breaking) space before "%", English none: as tables.display.
    french = (translation.get_language() or "").startswith("fr")
    return ("+" if percent >= 0 else "") + number + ("\u00a0%" if french else "%")


def _key_figures(pdf: FPDF, current, previous) -> None:
    _heading(pdf, _("Key figures"), 12)
    pdf.set_font(FONT, "", 9)
    before = {key: value for key, _label, value in tables.key_figures(previous)}
    with pdf.table(
        col_widths=(88, 34, 34, 34),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD"),
        line_height=5,
        padding=1,
    ) as table:
        table.row(
            [
                _("Figure"),
                _("This period"),
                _("Previous period"),
                pgettext("compared with the previous period", "Change"),
            ]
        )
        for key, label, value in tables.key_figures(current):
            kind = KIND_OF_FIGURE.get(key, INT)
            table.row(
                [
                    str(label),
                    tables.display(value, kind),
                    tables.display(before[key], kind),
                    change(value, before[key], kind),
                ]
            )


def _room(pdf: FPDF, height: float) -> None:
    if pdf.get_y() + height > pdf.h - pdf.b_margin:
        pdf.add_page()


def _fill(pdf: FPDF, colour: str) -> None:
    pdf.set_fill_color(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))


def _requests_chart(pdf: FPDF, d) -> None:
    """Stacked columns per day, one colour per channel, with a legend."""
    _room(pdf, 80)
    _heading(pdf, _("Requests placed per day"), 12)
    top, height, left = pdf.get_y() + 2, 50, 20
    slot = (PAGE_W - left) / max(len(d.per_day), 1)
    peak = max((row.total for row in d.per_day), default=0) or 1
    pdf.set_font(FONT, "", 7)
    pdf.set_xy(10, top - 2)
    pdf.cell(left - 12, 4, formats.number_format(peak), align="R")
    pdf.line(10 + left - 2, top + height, 10 + PAGE_W, top + height)
    every = max(1, len(d.per_day) // 12)
    for i, row in enumerate(d.per_day):
        x, y = 10 + left + i * slot + slot * 0.1, top + height
        for n, channel in enumerate(row.counts):
            h = row.counts[channel] / peak * height
            if h:
                _fill(pdf, PALETTE[n])
                pdf.rect(x, y - h, slot * 0.8, h, style="F")
            y -= h
        if i % every == 0:
            pdf.set_xy(x - 3, top + height + 1)
            pdf.cell(slot * 0.8 + 6, 3, formats.date_format(row.day, "d/m"), align="C")
    pdf.set_xy(10 + left, top + height + 6)
    for n, (_value, label) in enumerate(Channel.choices):
        _fill(pdf, PALETTE[n])
        pdf.rect(pdf.get_x(), pdf.get_y() + 1, 3, 3, style="F")
        pdf.set_x(pdf.get_x() + 4)
        pdf.cell(30, 5, str(label))
    pdf.set_y(top + height + 14)


def _rate_chart(pdf: FPDF, title: str, outcomes, with_branch: bool = False) -> None:
    """Horizontal bars of the not-found rate, the counts written beside each bar."""
    _room(pdf, 20 + 6 * len(outcomes))
    _heading(pdf, title, 12)
    pdf.set_font(FONT, "", 8)
    if not outcomes:
        pdf.cell(0, 5, _("No pick line marked in this period."), new_x="LMARGIN", new_y="NEXT")
        return
    label_w, bar_w = 70, 80
    for o in outcomes:
        y = pdf.get_y()
        label = f"{o.label} — {o.branch}" if with_branch else o.label
        pdf.set_x(10)
        pdf.cell(label_w, 5, label[:48], align="R")
        _fill(pdf, "#EEEEEE")
        pdf.rect(10 + label_w + 2, y + 0.8, bar_w, 3.4, style="F")
        _fill(pdf, PALETTE[5])
        width = (o.not_found_rate or 0) * bar_w
        if width:
            pdf.rect(10 + label_w + 2, y + 0.8, width, 3.4, style="F")
        pdf.set_xy(10 + label_w + bar_w + 4, y)
        detail = _("%(rate)s (%(not_found)s of %(marked)s)") % {
            "rate": tables.display(o.not_found_rate, RATE),
            "not_found": o.not_found,
            "marked": o.marked,
        }
        pdf.cell(0, 5, detail, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, table: tables.Table) -> None:
    _room(pdf, 14 + 5 * len(table.rows))
    _heading(pdf, str(table.title), 12)
    pdf.set_font(FONT, "", 9)
    align = tuple("LEFT" if c.kind == tables.TEXT else "RIGHT" for c in table.columns)
    with pdf.table(text_align=align, headings_style=FontFace(emphasis="BOLD"), line_height=5, padding=1) as t:
        t.row([str(c.title) for c in table.columns])
        for row in table.rows:
            t.row([tables.display(v, c.kind) for c, v in zip(table.columns, row, strict=True)])
