"""What our PDFs share (fpdf2, pure Python): the pick lists and labels (picking.pdf) and
the service report (stats.report).

PDF core fonts only know Latin-1 (no œ, no ’): we embed DejaVu, taken from the system
when the Debian package is there, else from the copy vendored in ``picking/fonts``."""

import logging
from pathlib import Path

from django.conf import settings
from django.utils import translation
from fpdf import FPDF

# fontTools logs every glyph subset at INFO: one screenful per PDF.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)

FONT = "DejaVu"
FONT_FILES = {"": "DejaVuSansCondensed.ttf", "B": "DejaVuSansCondensed-Bold.ttf"}
FONT_DIRS = [
    Path("/usr/share/fonts/truetype/dejavu"),
    Path(__file__).resolve().parent / "picking" / "fonts",
]


def font_path(filename: str) -> Path:
    for folder in FONT_DIRS:
        if (folder / filename).is_file():
            return folder / filename
    raise FileNotFoundError(filename)


def set_up(pdf: FPDF, title: str) -> None:
    """Title, author's tool, language (for screen readers) and the embedded font."""
    pdf.set_title(title)
    pdf.set_creator("Emporter")
    pdf.set_lang(translation.get_language() or settings.LANGUAGE_CODE)
    for style, filename in FONT_FILES.items():
        pdf.add_font(FONT, style, str(font_path(filename)))
