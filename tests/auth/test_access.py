"""Every route is protected as intended: a new route can never be left open by accident."""

from __future__ import annotations

import re

import pytest

from pieced_admin.auth.access import access_of, allowed_roles
from pieced_admin.auth.oidc import ROLE_FINANCE

# The only routes anyone may call. Adding one here is a deliberate decision.
PUBLIC = {"static", "auth.login", "auth.login_start", "auth.callback", "auth.logout", "api.healthz"}
# Routes that authenticate their caller themselves (bearer token, Stripe signature).
SELF_AUTHENTICATED = {"api.threema_usage", "payments.stripe_webhook"}


def _sample_url(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)


def _method(rule) -> str:
    return "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]


def _rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def test_only_the_allowlisted_routes_are_open(app):
    open_routes = {r.endpoint for r in app.url_map.iter_rules()
                   if access_of(app.view_functions[r.endpoint]) in ("public", "token")}
    assert open_routes - {"static"} <= (PUBLIC | SELF_AUTHENTICATED)
    assert {e for e in open_routes if access_of(app.view_functions[e]) == "token"} <= SELF_AUTHENTICATED


def test_anonymous_users_are_sent_to_login_or_get_401(app, client):
    checked = 0
    for rule in _rules(app):
        if rule.endpoint in PUBLIC | SELF_AUTHENTICATED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(_sample_url(rule), method=method)
            if rule.rule.startswith("/api/"):
                assert resp.status_code == 401, (rule.rule, method, resp.status_code)
            else:
                assert resp.status_code == 302, (rule.rule, method, resp.status_code)
                assert resp.headers["Location"].startswith("/login"), (rule.rule, resp.headers["Location"])
            checked += 1
    assert checked >= 1


def test_users_without_a_role_get_403_everywhere(app, client, login):
    login("nobody")
    for rule in _rules(app):
        if rule.endpoint in PUBLIC | SELF_AUTHENTICATED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(_sample_url(rule), method=method)
            assert resp.status_code == 403, (rule.rule, method, resp.status_code)


def test_finance_is_refused_on_every_admin_only_change(app, client, login):
    login("finance")
    token = _csrf_token(client)
    refused = 0
    for rule in _rules(app):
        view = app.view_functions[rule.endpoint]
        if access_of(view) in ("public", "token"):
            continue
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            if ROLE_FINANCE in allowed_roles(view, method):
                continue
            # Sent by hand, with a valid CSRF token: the server still refuses.
            resp = client.open(_sample_url(rule), method=method, headers={"X-CSRFToken": token})
            assert resp.status_code == 403, (rule.rule, method, resp.status_code)
            refused += 1


def test_no_role_page_says_so_and_offers_nothing_else(client, login):
    login("nobody")
    resp = client.get("/")
    assert resp.status_code == 403
    page = resp.get_data(as_text=True)
    assert "no role" in page
    assert "nobody@pieced.local" in page
    assert 'class="main-nav"' not in page  # no navigation
    assert "Log out" in page


def _csrf_token(client) -> str:
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match, "the shell carries the CSRF token for htmx"
    return match.group(1)


@pytest.fixture
def csrf_token(client):
    return lambda: _csrf_token(client)


# Routes of the finance desk (issue 12): finance reads and downloads every report and export, and
# sends reminders for several invoices at once.
FINANCE_READS = ("/reports/vat", "/reports/vat.xlsx", "/reports/vat.pdf", "/reports/journal", "/reports/journal.txt",
                 "/reports/journal.csv", "/reports/journal.xlsx", "/invoices/export/invoices.xlsx",
                 "/invoices/export/invoices.csv?flavour=excel-ch", "/invoices/export/lines.csv?flavour=rfc4180")


def test_finance_reads_the_reports_and_exports_and_may_send_reminders(app, client, login):
    login("finance")
    for url in FINANCE_READS:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        resp.close()
    view = app.view_functions["reminders.send_many"]
    assert ROLE_FINANCE in allowed_roles(view, "POST")
