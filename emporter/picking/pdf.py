"""PDFs for the morning pull: the pick list and the bag labels (fpdf2, pure Python; the
font and metadata every PDF of ours shares are in ``emporter.pdf``)."""

from django.utils.translation import gettext as _
from fpdf import FPDF

from emporter.dates import long_date
from emporter.pdf import FONT, set_up

from .models import LineStatus


def _document(title: str) -> FPDF:
    pdf = FPDF(format="A4")
    _setup(pdf, title)
    return pdf


def _setup(pdf: FPDF, title: str) -> None:
    set_up(pdf, title)
    pdf.set_margins(10, 10, 10)
    pdf.set_auto_page_break(True, margin=12)


def _heading(pdf: FPDF, text: str, size: int) -> None:
    pdf.set_font(FONT, "B", size)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")


# Pick list columns (mm, 190 in all): call number, title/author, barcode, type, bag, tick.
COLUMNS = (34, 80, 26, 18, 24, 8)
ROW_H = 8.5


class PickListPDF(FPDF):
    """fpdf2's table() measures and wraps every cell: ~7 ms a row, 10 s for a big
    branch's morning. Rows here have a fixed height and text is cut to its column,
    which keeps a 1,500-line list to about a second."""

    def __init__(self, title: str):
        super().__init__(format="A4")
        self.list_title = title
        self.department = ""
        _setup(self, title)
        self.set_auto_page_break(False)

    def footer(self):
        self.set_y(-9)
        self.set_font(FONT, "", 7)
        parts = (self.list_title, self.department, str(self.page_no()))
        self.cell(0, 4, " · ".join(part for part in parts if part), align="R")

    def start_section(self, department: str) -> None:
        """A new department on a new page. fpdf2 draws a page's footer when the next
        page is added, so the department changes only after add_page: set before, the
        previous department's last page would be signed with this one's name."""
        self.add_page()
        self.department = department

    def room_for(self, height: float, *, headings: bool = True) -> None:
        if self.get_y() + height > self.h - 12:
            self.add_page()
            if headings:
                self.column_headings()

    def column_headings(self) -> None:
        self.set_font(FONT, "B", 8)
        headings = (_("Call number"), _("Title / author"), _("Barcode"), _("Type"), _("Bag"), "✓")
        for width, text in zip(COLUMNS, headings, strict=True):
            self.cell(width, 5, text, border="B")
        self.ln(5)


def pick_list(*, run, sections) -> bytes:
    """One department per page; inside, one block per location in walking order."""
    title = _("Pick list %(branch)s, %(date)s") % {
        "branch": run.branch.name,
        "date": long_date(run.run_date, "l j F Y"),
    }
    pdf = PickListPDF(title)
    if not sections:
        pdf.add_page()
        _heading(pdf, title, 14)
        pdf.set_font(FONT, "", 11)
        pdf.cell(0, 8, _("Nothing to pull."))
    for section in sections:
        pdf.start_section(section.department.name if section.department else _("No department"))
        _heading(pdf, title, 10)
        _heading(pdf, f"{pdf.department} — {section.count}", 14)
        for shelf in section.shelves:
            _shelf(pdf, shelf)
    return bytes(pdf.output())


def _shelf(pdf: PickListPDF, shelf) -> None:
    pdf.room_for(12 + ROW_H, headings=False)  # never a location heading alone at a page foot
    pdf.ln(2)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 5, shelf.location.name if shelf.location else _("No location"), new_x="LMARGIN", new_y="NEXT")
    if shelf.location and shelf.location.hint:
        pdf.set_font(FONT, "", 8)
        pdf.multi_cell(0, 4, shelf.location.hint, new_x="LMARGIN", new_y="NEXT")
    pdf.column_headings()
    for line in shelf.lines:
        pdf.room_for(ROW_H)
        _row(pdf, line)


def _row(pdf: PickListPDF, line) -> None:
    x, y = pdf.l_margin, pdf.get_y()
    record = line.copy.record
    bag = f"→ {line.leaving_for.name}" if line.leaving_for else line.bag_label
    if getattr(line, "put_back", False):
        bag = _("back on the shelf")
    if line.status == LineStatus.CANCELLED:
        # Cancelled since the list was built (its request cancelled, moved, or its library
        # closed): printed like a line to pull, a picker walked to it for nobody.
        bag = str(LineStatus.CANCELLED.label)
    tick = {
        LineStatus.FOUND: "✓",
        LineStatus.NOT_FOUND: "✗",
        LineStatus.CARRIED: "→",
        LineStatus.CANCELLED: "—",
    }.get(line.status, "")
    _fit(pdf, line.copy.call_number or "—", style="B", size=10, width=COLUMNS[0] - 1)
    pdf.cell(COLUMNS[0], 5, line.copy.call_number or "—")
    pdf.set_font(FONT, "", 8)
    pdf.cell(COLUMNS[1], 5, _cut(pdf, record.title, COLUMNS[1] - 1))
    cells = (line.copy.barcode or "—", line.type_label, bag, tick)
    for width, text in zip(COLUMNS[2:], cells, strict=True):
        pdf.cell(width, 5, _cut(pdf, text, width - 1))
    if record.responsibility:
        pdf.set_xy(x + COLUMNS[0], y + 4.2)
        pdf.set_font(FONT, "", 7)
        pdf.cell(COLUMNS[1], 3.5, _cut(pdf, record.responsibility, COLUMNS[1] - 1))
    pdf.set_draw_color(180)
    pdf.line(x, y + ROW_H, x + sum(COLUMNS), y + ROW_H)
    pdf.set_xy(x, y + ROW_H)


def _cut(pdf: FPDF, text: str, width: float) -> str:
    """``text`` shortened with an ellipsis to fit ``width`` in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[: max(1, int(len(text) * 0.9))] if len(text) > 12 else text[:-1]
    return text + "…"


NAME_STYLES = ("full", "short", "card")


def patron_name(patron, style: str) -> str:
    """The name on a bag seen by everyone at the door: full, first name + initial, or
    the card's last four digits."""
    if style == "short":
        return f"{patron.first_name} {patron.last_name[:1]}.".strip()
    if style == "card":
        return f"•••• {patron.card_number[-4:]}"
    return f"{patron.first_name} {patron.last_name}".strip()


LABEL_COLUMNS, LABEL_ROWS = 2, 4
LABEL_W, LABEL_H = 95.0, 68.0


def bag_labels(*, branch, bags, name_style: str) -> bytes:
    """Eight labels per A4 page (2 × 4), with cut lines."""
    pdf = _document(_("Bag labels %(branch)s") % {"branch": branch.name})
    pdf.set_auto_page_break(False)
    if not bags:
        pdf.add_page()
        pdf.set_font(FONT, "", 12)
        pdf.cell(0, 10, _("No bag to label."))
    per_page = LABEL_COLUMNS * LABEL_ROWS
    for n, bag in enumerate(bags):
        if n % per_page == 0:
            pdf.add_page()
        col, row = (n % per_page) % LABEL_COLUMNS, (n % per_page) // LABEL_COLUMNS
        _label(pdf, bag, name_style, x=10 + col * LABEL_W, y=10 + row * (LABEL_H + 1))
    return bytes(pdf.output())


def _label(pdf: FPDF, bag, name_style: str, *, x: float, y: float) -> None:
    pdf.set_draw_color(160)
    pdf.set_dash_pattern(dash=2, gap=2)
    pdf.rect(x, y, LABEL_W, LABEL_H)
    pdf.set_dash_pattern()
    inner = LABEL_W - 8
    pdf.set_xy(x + 4, y + 4)
    _fit(pdf, bag.label, style="B", size=44, width=inner)
    pdf.cell(inner, 20, bag.label, align="C")
    pdf.set_xy(x + 4, y + 26)
    name = patron_name(bag.patron, name_style)
    _fit(pdf, name, style="B", size=15, width=inner)
    pdf.cell(inner, 9, name, align="C")
    pdf.set_xy(x + 4, y + 38)
    pdf.set_font(FONT, "", 12)
    count = _("Documents: %(n)s") % {"n": bag.documents}
    pdf.cell(inner, 7, count, align="C")
    if bag.hold_until:
        pdf.set_xy(x + 4, y + 48)
        pdf.set_font(FONT, "", 11)
        until = _("Held until %(date)s") % {"date": long_date(bag.hold_until, "l j F Y")}
        pdf.multi_cell(inner, 6, until, align="C")


def _fit(pdf: FPDF, text: str, *, style: str, size: float, width: float) -> None:
    """Set the largest font size up to ``size`` at which ``text`` fits on one line."""
    pdf.set_font(FONT, style, size)
    while size > 6 and pdf.get_string_width(text) > width:
        size -= 1
        pdf.set_font(FONT, style, size)
