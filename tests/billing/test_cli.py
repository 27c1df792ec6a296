"""The billing CLI's contract: one line and exit 2 for bad input, exit 1 naming an outside system."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..factories import spec_example
from ..peers.litellm_api import LiteLLMServer

PIECED = str(Path(sys.executable).parent / "pieced-admin")


@pytest.mark.parametrize("args,message", [
    (["billing", "preview", "--org", "org-nope", "--month", "2026-10"], "unknown org 'org-nope'"),
    (["billing", "preview", "--org", "org-acme", "--month", "2026-13"], "Invalid month '2026-13'"),
    (["billing", "preview", "--org", "org-acme", "--month", "October"], "expected YYYY-MM"),
    (["billing", "issue", "--org", "org-nope", "--month", "2026-10"], "unknown org"),
    (["billing", "void", "PC-2026-9999", "--reason", "x"], "unknown invoice number 'PC-2026-9999'"),
    (["billing", "mark-paid", "PC-2026-9999"], "unknown invoice number"),
    (["billing", "mark-paid", "PC-2026-9999", "--paid-on", "yesterday"], "--paid-on must be a date"),
    (["billing", "pdf", "PC-2026-9999", "-o", "/tmp/x.pdf"], "unknown invoice number"),
])
def test_bad_input_is_one_line_and_exit_2(session, runner, args, message):
    spec_example()
    session.commit()
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_console_script_prints_one_line_for_a_missing_option(fresh_db):
    env = {**os.environ, "DATABASE_URL": fresh_db.url, "PIECED_ENV": "development"}
    proc = subprocess.run([PIECED, "billing", "void", "PC-2026-0001"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["Error: Missing option '--reason'."]


def test_litellm_down_is_exit_1_naming_litellm(session, runner, app):
    spec_example()
    session.commit()
    with LiteLLMServer(api_key="k") as server:
        server.fail_team("acme-main", 503)
        app.config.update(LITELLM_URL=server.url, LITELLM_API_KEY="k")
        result = runner.invoke(args=["billing", "issue", "--org", "org-acme", "--month", "2026-10"])
    assert result.exit_code == 1
    assert "LiteLLM" in result.output


def test_a_preview_writes_nothing(session, runner):
    from pieced_admin.models import OrgBillingConfig
    import sqlalchemy as sa

    from ..factories import make_tenant, zurich

    make_tenant("lonely", "org-unconfigured", zurich(2026, 9, 1))  # an org known only from its tenant
    session.commit()
    result = runner.invoke(args=["billing", "preview", "--org", "org-unconfigured", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert session.execute(sa.select(OrgBillingConfig).filter_by(zitadel_org_id="org-unconfigured")).first() is None


def test_issue_json_has_the_spec_shape_and_is_idempotent(session, runner):
    import json

    spec_example()
    session.commit()
    args = ["billing", "issue", "--org", "org-acme", "--month", "2026-10", "--json"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    (invoice,) = json.loads(first.output)["invoices"]
    assert list(invoice) == ["number", "org", "billing_entity", "period", "currency", "status", "lines", "net_chf",
                             "vat_rate", "vat_chf", "total_chf", "due_date", "warnings"]
    assert (invoice["number"], invoice["status"], invoice["period"]) == ("PC-2026-0001", "issued", "2026-10")
    # Without LiteLLM there is no LLM line: 148.75 − 13.33 = 135.42 net, VAT 10.97, total 146.39
    assert (invoice["net_chf"], invoice["vat_chf"], invoice["total_chf"]) == ("135.42", "10.97", "146.39")
    assert invoice["due_date"]  # ISO date: issue date + 30 days
    second = runner.invoke(args=args)
    assert second.exit_code == 0, second.output
    (again,) = json.loads(second.output)["invoices"]
    assert again["number"] == "PC-2026-0001" and again["lines"] == invoice["lines"]


def test_mark_paid_and_void_through_the_cli(session, runner):
    from pieced_admin.billing.days import Period
    from pieced_admin.billing.issuing import issue_invoices
    from pieced_admin.models import Invoice

    from ..factories import make_org, make_tenant, zurich

    spec_example()
    make_org("org-two")
    make_tenant("two-main", "org-two", zurich(2026, 9, 1))
    fake_pdf = lambda invs: [b"%PDF-1.4 test" for _ in invs]  # noqa: E731 - the PDF itself is tested elsewhere
    (paid,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=fake_pdf).issued
    (voided,) = issue_invoices("org-two", Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=fake_pdf).issued
    session.commit()

    result = runner.invoke(args=["billing", "mark-paid", paid.number, "--paid-on", "2026-11-10", "--reference", "R-7"])
    assert result.exit_code == 0, result.output
    assert f"Marked {paid.number} paid" in result.output
    result = runner.invoke(args=["billing", "void", voided.number, "--reason", "sent to the wrong org"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.get(Invoice, paid.id).payment_reference == "R-7"
    assert session.get(Invoice, voided.id).status == "void"

    again = runner.invoke(args=["billing", "void", paid.number, "--reason", "late"])
    assert again.exit_code == 2
    assert again.output.strip() == f"Error: invoice {paid.number} is paid and cannot be voided: credit it instead"
