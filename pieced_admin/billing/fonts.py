"""The one typeface of every PieCed document: Liberation Sans, embedded.

Liberation Sans is metric-compatible with Arial, one of the typefaces the SIX
Style Guide for the QR-bill allows, and covers the whole QR-bill character
set (Latin-1, Latin Extended-A, Ș ș Ț ț, €). Its TTF files ship with the
package (pieced_admin/fonts/, SIL Open Font License 1.1, see OFL.txt there),
so a fresh machine renders the same documents without a system font.

ReportLab embeds a subset of a TrueType font in every PDF that uses it; the
PDF base-14 fonts (Helvetica, …) would not be embedded, which prints letters
outside WinAnsi as boxes and rules out PDF/A. So the names the templates or
xhtml2pdf's defaults may ask for (Helvetica, Arial, sans-serif) are mapped to
Liberation Sans as well: no document can fall back to an unembedded font.
"""

from __future__ import annotations

import threading
from pathlib import Path

FONT_DIR = Path(__file__).resolve().parents[1] / "fonts"
FAMILY = "LiberationSans"
REGULAR = FAMILY
BOLD = f"{FAMILY}-Bold"
ITALIC = f"{FAMILY}-Italic"
BOLD_ITALIC = f"{FAMILY}-BoldItalic"
_FILES = {REGULAR: "LiberationSans-Regular.ttf", BOLD: "LiberationSans-Bold.ttf",
          ITALIC: "LiberationSans-Italic.ttf", BOLD_ITALIC: "LiberationSans-BoldItalic.ttf"}
# Family names a template or xhtml2pdf's default style sheet may name, all drawn with Liberation Sans.
_ALIASES = ("liberationsans", "liberation sans", "helvetica", "arial", "sans-serif", "sansserif", "sans")

_lock = threading.Lock()
_registered = False


def register_fonts() -> str:
    """Register Liberation Sans with ReportLab and xhtml2pdf (once per process); returns the family name."""
    global _registered
    if _registered:
        return FAMILY
    with _lock:
        if _registered:
            return FAMILY
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont
        from xhtml2pdf import default as xhtml2pdf_default

        for name, filename in _FILES.items():
            path = FONT_DIR / filename
            if not path.is_file():
                raise FileNotFoundError(f"font file {path} is missing: the package is incomplete")
            pdfmetrics.registerFont(TTFont(name, str(path)))
        pdfmetrics.registerFontFamily(FAMILY, normal=REGULAR, bold=BOLD, italic=ITALIC, boldItalic=BOLD_ITALIC)
        for alias in _ALIASES:
            xhtml2pdf_default.DEFAULT_FONT[alias] = REGULAR
            # xhtml2pdf picks the bold and italic faces through ReportLab's family map.
            for bold, italic, face in ((0, 0, REGULAR), (1, 0, BOLD), (0, 1, ITALIC), (1, 1, BOLD_ITALIC)):
                addMapping(alias, bold, italic, face)
        # ReportLab's table cells start in its base font (Helvetica) before a paragraph sets its own.
        from reportlab.platypus import tables

        tables.CellStyle.fontname = REGULAR
        for base, face in (("helvetica-bold", BOLD), ("helvetica-oblique", ITALIC),
                           ("helvetica-boldoblique", BOLD_ITALIC)):
            xhtml2pdf_default.DEFAULT_FONT[base] = face
        _registered = True
    return FAMILY
