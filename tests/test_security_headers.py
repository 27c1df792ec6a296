"""Security headers on every response: pages, partials, JSON, static files, errors, PDFs."""

from __future__ import annotations

import re

import pytest

from .auth.test_access import _rules, _sample_url


def _csp(resp) -> dict[str, str]:
    policy = resp.headers["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def _assert_headers(resp, where, framed_by="'none'"):
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", where
    assert resp.headers.get("Referrer-Policy") == "same-origin", where
    csp = _csp(resp)
    assert csp["frame-ancestors"] == f"frame-ancestors {framed_by}", where
    assert csp["script-src"] == "script-src 'self'", where  # no inline scripts, no eval
    assert resp.headers.get("X-Frame-Options") == ("DENY" if framed_by == "'none'" else "SAMEORIGIN"), where


def test_every_route_answers_with_the_security_headers(app, client, login):
    login("admin")
    checked = 0
    for rule in _rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(_sample_url(rule), method=method)
            _assert_headers(resp, (rule.rule, method, resp.status_code))
            checked += 1
    assert checked > 20
    for url in ("/static/app.js", "/no-such-page", "/healthz", "/login"):
        _assert_headers(client.get(url), url)
    _assert_headers(client.post("/api/usage/threema", json={}), "api 401")


def test_hsts_only_in_production(app, client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    app.config["PIECED_ENV"] = "production"
    assert client.get("/login").headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_logout_redirect_to_the_provider_is_an_allowed_form_target(app, client):
    issuer = app.config["OIDC_ISSUER"]
    csp = _csp(client.get("/login"))
    assert csp["form-action"] == f"form-action 'self' {issuer}"


def test_templates_have_no_inline_scripts_or_handlers():
    """CSP script-src 'self' blocks inline code: the templates must not rely on any."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "templates"
    for path in root.rglob("*.html"):
        if path.parts[-2] in ("pdf", "mail"):
            continue  # rendered to PDF / sent as e-mail, never served as a page
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert "javascript:" not in text and "hx-on" not in text, path


@pytest.mark.parametrize("url", ["/login", "/healthz"])
def test_public_pages_carry_them_too(client, url):
    _assert_headers(client.get(url), url)


def test_the_stored_pdf_may_be_framed_by_our_own_invoice_page_only(client, session, login):
    from pieced_admin.billing.days import Period
    from pieced_admin.billing.issuing import issue_invoices

    from .factories import spec_example, zurich

    spec_example()
    (invoice,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3),
                                render_pdfs=lambda invs: [b"%PDF-1.4 test" for _ in invs]).issued
    session.commit()
    login("finance")
    resp = client.get(f"/invoices/{invoice.number}/pdf?inline=1")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    _assert_headers(resp, "pdf", framed_by="'self'")
    page = client.get(f"/invoices/{invoice.number}")
    _assert_headers(page, "detail")
    assert _csp(page)["object-src"] == "object-src 'self'"
