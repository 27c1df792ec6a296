"""`pieced-admin billing pdf`: every download returns the bytes stored at issue."""

from __future__ import annotations

import hashlib

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices

from ..factories import spec_example, zurich
from ..pdf_tools import pdf_text


def test_two_downloads_are_identical_and_hash_to_the_stored_sha256(session, runner, tmp_path):
    spec_example()
    (invoice,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3)).issued  # real PDF
    session.commit()
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    for target in (first, second):
        result = runner.invoke(args=["billing", "pdf", invoice.number, "-o", str(target)])
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    assert hashlib.sha256(first.read_bytes()).hexdigest() == invoice.pdf_sha256
    text = pdf_text(first.read_bytes())
    # No LiteLLM here, so no LLM line: net 148.75 − 13.33 = 135.42, VAT 10.97, total 146.39
    assert "PC-2026-0001" in text and "146.39" in text


def test_a_pdf_that_cannot_be_written_is_one_line_exit_2(session, runner):
    spec_example()
    (invoice,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3),
                                render_pdfs=lambda invs: [b"%PDF-1.4 x" for _ in invs]).issued
    session.commit()
    result = runner.invoke(args=["billing", "pdf", invoice.number, "-o", "/nonexistent/dir/x.pdf"])
    assert result.exit_code == 2
    assert "cannot write /nonexistent/dir/x.pdf" in result.output
