"""Credit notes at the same time on PostgreSQL: the invoice row lock keeps the credits within the invoice,
the counter keeps the numbers gapless."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices
from pieced_admin.extensions import db
from pieced_admin.models import CreditNote, CreditNoteNumberCounter, Invoice

from ..factories import make_org, make_tenant, spec_pricing, zurich

PIECED = str(Path(sys.executable).parent / "pieced-admin")


def _fake_pdf(invoices):
    return [f"%PDF-1.4 {inv.number}".encode() for inv in invoices]


def _issue(fresh_db, orgs):
    with fresh_db.app.app_context():
        spec_pricing()
        for org in orgs:
            make_org(org)
            make_tenant(f"{org}-main", org, zurich(2026, 9, 1), skills=("searxng-local-search",))
        db.session.flush()
        numbers = [issue_invoices(org, Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=_fake_pdf).issued[0].number
                   for org in orgs]
        db.session.commit()
        db.session.remove()
    return numbers


def _run_all(fresh_db, commands):
    env = {**os.environ, "DATABASE_URL": fresh_db.url, "PIECED_ENV": "development", "PIECED_NOW": "2026-11-20"}
    procs = [subprocess.Popen([PIECED, "billing", "credit", *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for args in commands]
    return [(p, *p.communicate(timeout=180)) for p in procs]


@pytest.mark.postgres
@pytest.mark.slow
def test_two_credit_notes_at_once_never_exceed_the_invoice(fresh_db):
    # 49.00 + 3.10 (31 skill days × 0.10) = 52.10 net, VAT round(4.2201) = 4.22: two credits of 30.00 cannot both fit.
    (number,) = _issue(fresh_db, ["org-c0"])
    results = _run_all(fresh_db, [[number, "--reason", f"credit {i}", "--amount", "30.00"] for i in range(2)])
    codes = sorted(p.returncode for p, _out, _err in results)
    assert codes == [0, 2], [err for _p, _o, err in results]
    assert any("exceeds what remains to credit on the invoice (22.10)" in err for _p, _o, err in results)
    with fresh_db.app.app_context():
        notes = db.session.execute(sa.select(CreditNote)).scalars().all()
        assert [(n.number, n.net_chf) for n in notes] == [("PC-CN-2026-0001", Decimal("30.00"))]
        invoice = db.session.execute(sa.select(Invoice)).scalar_one()
        assert sum(n.net_chf for n in notes) <= invoice.net_chf
        db.session.remove()


@pytest.mark.postgres
@pytest.mark.slow
def test_eight_concurrent_credit_notes_of_one_entity_get_gapless_numbers(fresh_db):
    orgs = [f"org-g{i}" for i in range(4)]
    numbers = _issue(fresh_db, orgs)
    # Two credit notes per invoice, all eight at once: 2 × 10.00 fits every invoice (52.10 net).
    results = _run_all(fresh_db, [[n, "--reason", f"part {i}", "--amount", "10.00"] for n in numbers for i in range(2)])
    assert [p.returncode for p, _o, _e in results] == [0] * 8, [err[-400:] for _p, _o, err in results]
    with fresh_db.app.app_context():
        got = db.session.execute(sa.select(CreditNote.number).order_by(CreditNote.number)).scalars().all()
        assert got == [f"PC-CN-2026-{i:04d}" for i in range(1, 9)]
        assert db.session.execute(sa.select(CreditNoteNumberCounter.last_number)).scalar_one() == 8
        per_invoice = db.session.execute(
            sa.select(CreditNote.invoice_id, sa.func.count()).group_by(CreditNote.invoice_id)).all()
        assert sorted(c for _i, c in per_invoice) == [2, 2, 2, 2]
        assert all(n.pdf_sha256 for n in db.session.execute(sa.select(CreditNote)).scalars())
        db.session.remove()
