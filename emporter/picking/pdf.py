"""PDFs for the morning pull: the pick list and the bag labels (fpdf2, pure Python).

PDF core fonts only know Latin-1 (no œ, no ’): we embed DejaVu, taken from the system
when the Debian package is there, else from the copy vendored beside this file."""

import logging
from pathlib import Path

from django.utils import formats
from django.utils.translation import gettext as _
from fpdf import FPDF, FontFace

from .models import LineStatus

# fontTools logs every glyph subset at INFO: one screenful per PDF.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)

FONT = "DejaVu"
FONT_FILES = {"": "DejaVuSansCondensed.ttf", "B": "DejaVuSansCondensed-Bold.ttf"}
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path(__file__).parent / "fonts"]


def font_path(filename: str) -> Path:
    for folder in FONT_DIRS:
        if (folder / filename).is_file():
            return folder / filename
    raise FileNotFoundError(filename)


def _document(title: str) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("Emporter")
    for style, filename in FONT_FILES.items():
        pdf.add_font(FONT, style, str(font_path(filename)))
    pdf.set_margins(10, 10, 10)
    pdf.set_auto_page_break(True, margin=12)
    return pdf


def _heading(pdf: FPDF, text: str, size: int) -> None:
    pdf.set_font(FONT, "B", size)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")


def pick_list(*, run, sections) -> bytes:
    """One department per page; inside, one table per location in walking order."""
    title = _("Pick list %(branch)s, %(date)s") % {
        "branch": run.branch.name,
        "date": formats.date_format(run.run_date, "l j F Y"),
    }
    pdf = _document(title)
    if not sections:
        pdf.add_page()
        _heading(pdf, title, 14)
        pdf.set_font(FONT, "", 11)
        pdf.cell(0, 8, _("Nothing to pull."))
    for section in sections:
        pdf.add_page()
        _heading(pdf, title, 11)
        name = section.department.name if section.department else _("No department")
        _heading(pdf, f"{name} — {section.count}", 14)
        for shelf in section.shelves:
            _shelf(pdf, shelf)
    return bytes(pdf.output())


def _shelf(pdf: FPDF, shelf) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, "B", 10)
    where = shelf.location.name if shelf.location else _("No location")
    pdf.multi_cell(0, 5, where, new_x="LMARGIN", new_y="NEXT")
    if shelf.location and shelf.location.hint:
        pdf.set_font(FONT, "", 8)
        pdf.multi_cell(0, 4, shelf.location.hint, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 8)
    headings = [_("Call number"), _("Title / author"), _("Barcode"), _("Type"), _("Bag"), "✓"]
    with pdf.table(
        col_widths=(30, 82, 26, 18, 24, 10),
        line_height=4.2,
        headings_style=FontFace(emphasis="BOLD"),
        repeat_headings=1,
        padding=1,
    ) as table:
        table.row(headings)
        for line in shelf.lines:
            record = line.copy.record
            title = f"{record.title}\n{record.responsibility}" if record.responsibility else record.title
            bag = f"→ {line.leaving_for.name}" if line.leaving_for else line.bag_label
            row = table.row()
            row.cell(line.copy.call_number or "—", style=FontFace(emphasis="BOLD", size_pt=10))
            done = {LineStatus.FOUND: "✓", LineStatus.NOT_FOUND: "✗"}.get(line.status, "")
            for text in (title, line.copy.barcode or "—", line.copy.get_doc_type_display(), bag, done):
                row.cell(text)


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
        until = _("Held until %(date)s") % {"date": formats.date_format(bag.hold_until, "l j F Y")}
        pdf.multi_cell(inner, 6, until, align="C")


def _fit(pdf: FPDF, text: str, *, style: str, size: float, width: float) -> None:
    """Set the largest font size up to ``size`` at which ``text`` fits on one line."""
    pdf.set_font(FONT, style, size)
    while size > 6 and pdf.get_string_width(text) > width:
        size -= 1
        pdf.set_font(FONT, style, size)
