"""Reading PDFs back in tests: text (pdftotext), pages, the Swiss QR code (pdftoppm + zxing-cpp), PNGs to look at.

Needs Debian's poppler-utils (pdftotext, pdftoppm, pdfinfo) and zxing-cpp; the
QR code of a QR-bill is read from a 300 dpi render (zbar cannot read it).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

TEST_OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
PNG_DIR = TEST_OUTPUT / "pdf"

# Swiss Payments Code (SPC 0200): the fields in the order they appear, one per line.
_ADDRESS = ("address_type", "name", "street", "building_number", "postal_code", "city", "country")
SPC_FIELDS = (
    "qr_type", "version", "coding", "iban",
    *(f"creditor_{f}" for f in _ADDRESS),
    *(f"ultimate_creditor_{f}" for f in _ADDRESS),
    "amount", "currency",
    *(f"debtor_{f}" for f in _ADDRESS),
    "reference_type", "reference", "additional_information", "trailer",
)


class PdfToolMissing(RuntimeError):
    """A command-line tool these helpers need is not installed."""


def _run(args: list[str], data: bytes) -> bytes:
    if shutil.which(args[0]) is None:
        raise PdfToolMissing(f"{args[0]} not found: apt-get install -y poppler-utils")
    # No subprocess timeout: pytest-timeout bounds a hang, and libfaketime (the suite run on
    # another day) breaks the timed wait subprocess uses with EINVAL.
    proc = subprocess.run(args, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:500]}")
    return proc.stdout


def pdf_text(pdf: bytes, *, first: int | None = None, last: int | None = None) -> str:
    """The text of the PDF (or of pages first..last), laid out as on the page (pdftotext -layout)."""
    args = ["pdftotext", "-layout", "-enc", "UTF-8"]
    if first is not None:
        args += ["-f", str(first)]
    if last is not None:
        args += ["-l", str(last)]
    return _run([*args, "-", "-"], pdf).decode("utf-8")


def pdf_page_texts(pdf: bytes) -> list[str]:
    """The text of each page, in order (pdftotext separates pages with a form feed)."""
    pages = pdf_text(pdf).split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    return pages


def pdf_words(pdf: bytes, page: int) -> list[tuple[float, float, float, float, str]]:
    """The words of one page with their boxes (x0, y0, x1, y1, text) in points from the top left (pdftotext -bbox)."""
    import html
    import re

    out = _run(["pdftotext", "-bbox", "-enc", "UTF-8", "-f", str(page), "-l", str(page), "-", "-"], pdf).decode("utf-8")
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
    return [(float(a), float(b), float(c), float(d), html.unescape(w)) for a, b, c, d, w in re.findall(pattern, out)]


def pdf_pages(pdf: bytes) -> int:
    """The number of pages."""
    for line in _run(["pdfinfo", "-"], pdf).decode("utf-8", errors="replace").splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise RuntimeError("pdfinfo did not report a page count")


def render_pages(pdf: bytes, *, dpi: int = 300, first: int | None = None, last: int | None = None) -> list[bytes]:
    """PNG renders of the pages (pdftoppm), in order."""
    if shutil.which("pdftoppm") is None:
        raise PdfToolMissing("pdftoppm not found: apt-get install -y poppler-utils")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "doc.pdf"
        src.write_bytes(pdf)
        args = ["pdftoppm", "-r", str(dpi), "-png"]
        if first is not None:
            args += ["-f", str(first)]
        if last is not None:
            args += ["-l", str(last)]
        subprocess.run([*args, str(src), str(Path(tmp) / "page")], check=True, capture_output=True)
        return [p.read_bytes() for p in sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))]


def qr_payloads(pdf: bytes, page: int | None = None) -> list[str]:
    """The text of every QR code on one page (default: the last), read at 300 dpi with zxing-cpp."""
    import zxingcpp
    from PIL import Image

    page = page or pdf_pages(pdf)
    (png,) = render_pages(pdf, dpi=300, first=page, last=page)
    image = Image.open(io.BytesIO(png))
    return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def parse_spc(payload: str) -> dict:
    """A Swiss QR-bill payload (SPC 0200) as a dict of named fields (see SPC_FIELDS)."""
    lines = payload.replace("\r\n", "\n").split("\n")
    if lines[0] != "SPC":
        raise ValueError(f"not a Swiss QR-bill payload: {payload[:40]!r}")
    fields = dict(zip(SPC_FIELDS, lines + [""] * (len(SPC_FIELDS) - len(lines)), strict=False))
    fields["extra"] = lines[len(SPC_FIELDS):]
    return fields


def decode_qr(pdf: bytes, page: int | None = None) -> dict:
    """The Swiss QR-bill on a page (default: the last) as a dict; raises LookupError when there is none."""
    payloads = [p for p in qr_payloads(pdf, page) if p.startswith("SPC")]
    if not payloads:
        raise LookupError(f"no Swiss QR code on page {page or 'last'}")
    if len(payloads) > 1:
        raise LookupError(f"{len(payloads)} Swiss QR codes on one page")
    return parse_spc(payloads[0])


def save_pngs(pdf: bytes, name: str, *, dpi: int = 110) -> list[Path]:
    """Write test-output/pdf/<name>-<page>.png (and the PDF) for a person to look at; returns the PNG paths."""
    PNG_DIR.mkdir(parents=True, exist_ok=True)
    for old in PNG_DIR.glob(f"{name}-*.png"):
        old.unlink()
    (PNG_DIR / f"{name}.pdf").write_bytes(pdf)
    paths = []
    for number, png in enumerate(render_pages(pdf, dpi=dpi), start=1):
        path = PNG_DIR / f"{name}-{number}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths
