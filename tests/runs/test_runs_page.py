"""The Billing runs page: start a run in the browser, watch it progress, read the summary; one run per month.

Each org below has one tenant for all of October 2026: monthly fee 49.00 + VAT 3.97 = CHF 52.97.
"""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, BillingRun, Invoice

from ..conftest import login_as
from ..factories import make_org, make_tenant, set_pricing, zurich
from ..peers.litellm_api import LiteLLMServer
from ..peers.smtp import SmtpSink
from ..reminders.data import ready_default_entity

HTMX = {"HX-Request": "true"}
# Invoices are numbered in the year they are issued: the run issues now.
Y = clock.today("Europe/Zurich").year  # the suite's day (tests/conftest.py)


def seed(app, orgs=("org-a", "org-b")) -> None:
    with app.app_context():
        ready_default_entity()
        set_pricing(tenant_monthly_fee_chf="49.00", vat_rate_chli="8.10")
        for org_id in orgs:
            make_org(org_id, auto_invoice_enabled=True)
            make_tenant(f"{org_id}-main", org_id, zurich(2026, 9, 1))
        db.session.commit()
        db.session.remove()


def csrf(client) -> str:
    return re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def start(client, month="2026-10", **extra):
    return client.post("/runs", data={"csrf_token": csrf(client), "month": month, **extra})


def wait_until_finished(client, url: str, timeout: float = 60) -> str:
    """Poll the progress partial as htmx does, until it stops asking to be polled."""
    deadline = time.monotonic() + timeout
    while True:
        html = client.get(url, headers=HTMX).get_data(as_text=True)
        assert html.lstrip().startswith('<section id="run-progress"'), html[:200]
        if 'hx-trigger="every 1s"' not in html:
            return html
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.2)


@pytest.mark.postgres
def test_finance_starts_a_run_and_follows_it_to_the_summary(fresh_db, oidc_provider):
    app = fresh_db.app
    seed(app)
    with SmtpSink() as sink:
        app.config.update(sink.config())
        client = app.test_client()
        login_as(client, "finance", oidc_provider)
        index = client.get("/runs").get_data(as_text=True)
        assert "Dry run first" in index and "Run for real" in index and "No billing run yet." in index

        resp = start(client)
        assert resp.status_code == 303
        url = resp.headers["Location"]
        assert re.fullmatch(r"/runs/\d+", url)
        page = client.get(url).get_data(as_text=True)
        assert "<h1>Billing run #" in page and 'id="run-progress"' in page

        html = wait_until_finished(client, url)
        assert ">done<" in html and "2 / 2" in html
        assert "org-a" in html and "org-b" in html
        assert f"PC-{Y}-0001" in html and f"PC-{Y}-0002" in html and "52.97" in html
        assert len(sink.messages) == 2  # the same service as the CLI: invoices e-mailed

        listing = client.get("/runs").get_data(as_text=True)
        assert "#1" in listing and "2026-10" in listing and ">done<" in listing
    with app.app_context():
        run = db.session.execute(sa.select(BillingRun)).scalar_one()
        assert (run.status, run.orgs_done, run.invoices_issued) == ("done", 2, 2)
        assert run.started_by and "finance" in run.started_by
        assert db.session.execute(sa.select(AuditLog).filter_by(action="billing_run.start")).scalar_one()
        db.session.remove()


@pytest.mark.postgres
def test_a_second_run_of_the_same_month_is_refused_while_the_first_runs(fresh_db, oidc_provider):
    app = fresh_db.app
    seed(app)
    with LiteLLMServer() as litellm, SmtpSink() as sink:
        litellm.delay = 1.5  # LiteLLM answers slowly: the first run is still busy when the second is asked for
        app.config.update(sink.config(), LITELLM_URL=litellm.url, LITELLM_API_KEY=litellm.api_key)
        client = app.test_client()
        login_as(client, "admin", oidc_provider)
        first = start(client)
        assert first.status_code == 303
        second = start(client)
        assert second.status_code == 409
        assert "A billing run for 2026-10 is already in progress (run #" in second.get_data(as_text=True)
        html = wait_until_finished(client, first.headers["Location"])
        assert ">done<" in html
        # Once it is finished, the month can be run again (it finds nothing to do).
        again = start(client)
        assert again.status_code == 303
        html = wait_until_finished(client, again.headers["Location"])
        assert ">done<" in html and "up to date" in html
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar_one() == 2
        db.session.remove()


@pytest.mark.postgres
def test_a_dry_run_from_the_browser_changes_nothing(fresh_db, oidc_provider):
    app = fresh_db.app
    seed(app, orgs=("org-a",))
    client = app.test_client()
    login_as(client, "finance", oidc_provider)
    resp = start(client, dry_run="y")
    html = wait_until_finished(client, resp.headers["Location"])
    assert "dry run" in html and "would issue" in html and "net CHF 49.00, total CHF 52.97, 1 lines" in html
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar_one() == 0
        db.session.remove()


def test_a_bad_month_or_an_unfinished_month_is_shown_next_to_the_field(app, client, login):
    login("admin")
    resp = start(client, month="October")
    assert resp.status_code == 400 and "Use a month like 2026-10." in resp.get_data(as_text=True)
    resp = start(client, month="2999-01")
    assert resp.status_code == 400 and "2999-01 has not ended yet" in resp.get_data(as_text=True)
    assert client.get("/runs/999").status_code == 404


def test_no_role_gets_403(app, client, login):
    login("nobody")
    assert client.get("/runs").status_code == 403
    assert client.post("/runs", data={"month": "2026-10"}).status_code == 403
