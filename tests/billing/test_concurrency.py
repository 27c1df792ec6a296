"""Concurrent issuing on PostgreSQL: 8 processes, 4 orgs, each org issued twice at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from pieced_admin.extensions import db
from pieced_admin.models import Invoice, InvoiceNumberCounter

from ..factories import make_org, make_tenant, spec_pricing, zurich

PIECED = str(Path(sys.executable).parent / "pieced-admin")
ORGS = [f"org-c{i}" for i in range(4)]


@pytest.mark.postgres
@pytest.mark.slow
def test_eight_processes_issue_four_invoices_without_gaps(fresh_db):
    with fresh_db.app.app_context():
        spec_pricing()
        for org in ORGS:
            make_org(org)
            make_tenant(f"{org}-main", org, zurich(2026, 9, 1), skills=("searxng-local-search",))
        db.session.commit()

    env = {**os.environ, "DATABASE_URL": fresh_db.url, "PIECED_ENV": "development"}
    procs = [
        subprocess.Popen([PIECED, "billing", "issue", "--org", org, "--month", "2026-10"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for org in ORGS for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [o[1][-500:] for o in outputs]
    created = sum(out.count("Issued ") for out, _ in outputs)
    returned = sum(out.count("Already issued") for out, _ in outputs)
    assert (created, returned) == (4, 4)

    with fresh_db.app.app_context():
        invoices = db.session.execute(sa.select(Invoice).order_by(Invoice.number)).scalars().all()
        assert [i.number for i in invoices] == ["PC-2026-0001", "PC-2026-0002", "PC-2026-0003", "PC-2026-0004"]
        assert sorted(i.zitadel_org_id for i in invoices) == ORGS  # one each, no duplicates
        assert db.session.execute(sa.select(InvoiceNumberCounter.last_number)).scalar_one() == 4
        assert all(i.pdf_sha256 for i in invoices)
        db.session.remove()
