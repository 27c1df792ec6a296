"""A tenant's month is billed once (SPEC §3): the move scenario of issue 11 through the CLI and the monthly run,
on both databases; usage at the month's seams; the move page's sentence."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.extensions import db
from pieced_admin.models import Invoice, TenantLifecycle

from ..factories import make_entity, make_org, make_tenant, set_pricing, zurich
from ..peers.smtp import SmtpSink
from ..reminders.data import ready_default_entity


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _invoices(app):
    with app.app_context():
        rows = db.session.execute(sa.select(Invoice).order_by(Invoice.id)).scalars().all()
        out = [(i.number, i.status, sorted({l.tenant_name for l in i.lines}), i.total_chf) for i in rows]
        db.session.remove()
    return out


def test_a_tenant_moved_after_its_month_was_issued_is_not_billed_again(fresh_db):
    app = fresh_db.app
    with app.app_context():
        set_pricing(tenant_monthly_fee_chf="49.00", vat_rate_chli="8.10")
        ready_default_entity()
        make_entity("pieced-li", prefix="LI", name="PieCed Liechtenstein AG", country="LI")
        make_org("org-bergbahn", auto_invoice_enabled=True)
        make_tenant("bergbahn-main", "org-bergbahn", zurich(2026, 10, 1))
        make_tenant("bergbahn-guests", "org-bergbahn", zurich(2026, 10, 1))
        db.session.commit()
        db.session.remove()

    with clock.pinned("2026-12-02T09:00:00+01:00"), SmtpSink() as sink:
        app.config.update(sink.config())
        first = _cli(app, "billing", "issue", "--org", "org-bergbahn", "--month", "2026-11")
        assert first.exit_code == 0, first.output
        # Two full months of 49.00 = 98.00 net, VAT round(7.938) = 7.94, total 105.94.
        assert _invoices(app) == [("PC-2026-0001", "issued", ["bergbahn-guests", "bergbahn-main"], D("105.94"))]

        with app.app_context():  # the move
            li = db.session.execute(sa.text("SELECT id FROM billing_entities WHERE code = 'pieced-li'")).scalar_one()
            db.session.execute(sa.update(TenantLifecycle).where(TenantLifecycle.tenant_name == "bergbahn-guests")
                               .values(billing_entity_id=li))
            db.session.commit()
            db.session.remove()

        preview = _cli(app, "billing", "preview", "--org", "org-bergbahn", "--month", "2026-11", "--json")
        assert preview.exit_code == 0, preview.output
        drafts = json.loads(preview.output)["invoices"]
        assert [l for d in drafts for l in d["lines"] if l["tenant"] == "bergbahn-guests"] == []
        assert any("bergbahn-guests already billed on PC-2026-0001" in w for d in drafts for w in d["warnings"])

        again = _cli(app, "billing", "issue", "--org", "org-bergbahn", "--month", "2026-11")
        assert again.exit_code == 0, again.output
        assert "Already issued: PC-2026-0001" in again.output and "Issued " not in again.output
        dry = _cli(app, "billing", "run-monthly", "--month", "2026-11", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "0 invoice(s) to issue" in dry.output, dry.output
        run = _cli(app, "billing", "run-monthly", "--month", "2026-11")
        assert run.exit_code == 0, run.output
        assert len(_invoices(app)) == 1  # nothing new for the moved tenant
        verify = _cli(app, "billing", "verify", "--month", "2026-11")
        assert verify.exit_code == 0, verify.output

        void = _cli(app, "billing", "void", "PC-2026-0001", "--reason", "Guests move to Liechtenstein")
        assert void.exit_code == 0, void.output
        assert "cancelled by credit note PC-CN-2026-0001" in void.output
        rerun = _cli(app, "billing", "run-monthly", "--month", "2026-11")
        assert rerun.exit_code == 0, rerun.output
        # Voiding freed the month: each tenant once, the guests under their new entity; VAT follows the
        # org's country (CH): 49.00 + round(3.969) = 52.97 each.
        assert sorted(_invoices(app)) == [
            ("LI-2026-0001", "issued", ["bergbahn-guests"], D("52.97")),
            ("PC-2026-0001", "void", ["bergbahn-guests", "bergbahn-main"], D("105.94")),
            ("PC-2026-0002", "issued", ["bergbahn-main"], D("52.97")),
        ]
        assert any("PC-CN-2026-0001" in m.get("Subject", "") for m in sink.messages)  # the customer got it
        assert _cli(app, "billing", "verify", "--month", "2026-11").exit_code == 0


@pytest.mark.now("2026-12-02")
def test_the_move_page_says_from_which_month_it_takes_effect(admin_client, session):
    from pieced_admin.billing.days import Period
    from pieced_admin.billing.issuing import issue_invoices

    set_pricing(tenant_monthly_fee_chf="49.00")
    ready_default_entity()
    other = make_entity("pieced-li", prefix="LI", name="PieCed Liechtenstein AG")
    make_org("org-bergbahn")
    make_tenant("bergbahn-guests", "org-bergbahn", zurich(2026, 10, 1))
    issue_invoices("org-bergbahn", Period(2026, 11), now=zurich(2026, 12, 1, 9), render_pdfs=None)
    session.commit()
    page = admin_client.get("/tenants/bergbahn-guests").get_data(as_text=True)
    assert "It takes effect from December 2026 (November 2026 is billed on PC-2026-0001 and stays there)." in page
    assert other.id
