"""Error pages render without the database: an outage is the app's own styled 503, never a bare 500."""

from __future__ import annotations

import pytest

from .conftest import make_test_app

UNREACHABLE = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/pieced?connect_timeout=2",
    "sqlite": "sqlite:////nonexistent-folder/for/sure/pieced.db",
}


@pytest.fixture(params=sorted(UNREACHABLE))
def down_app(request, oidc_provider):
    app = make_test_app(UNREACHABLE[request.param], oidc_provider, RENDER_500_IN_TESTS=True)
    yield app
    from pieced_admin.extensions import db

    with app.app_context():
        db.engine.dispose()


def _signed_in_cookie(client):
    with client.session_transaction() as session:  # a cookie from before the outage
        session["_user_id"] = "1"
        session["sid"] = "a-session-token"


@pytest.mark.parametrize("url", ["/invoices", "/", "/pricing"])
def test_a_database_outage_is_our_own_503_page(down_app, url):
    client = down_app.test_client()
    _signed_in_cookie(client)
    resp = client.get(url)
    assert resp.status_code == 503
    page = resp.get_data(as_text=True)
    assert "The database is not answering" in page
    assert "PieCed billing" in page and "/static/app.css" in page  # the app's shell, styled
    assert "Internal Server Error" not in page
    assert resp.headers["Retry-After"] == "30"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_that_need_no_database_still_render(down_app):
    client = down_app.test_client()
    _signed_in_cookie(client)
    assert client.get("/no-such-page").status_code in (404, 503)
    login = client.get("/login")
    assert login.status_code in (200, 503) and "Internal Server Error" not in login.get_data(as_text=True)


def test_the_api_answers_json_during_an_outage(down_app):
    client = down_app.test_client()
    assert client.get("/healthz").status_code == 503
    resp = client.post("/api/usage/threema", headers={"Authorization": "Bearer test-ingest-token"},
                       json={"tenant": "t", "message_id": "m", "sent_at": "2026-11-01T00:00:00Z"})
    assert resp.status_code == 503
    assert "database" in resp.get_json()["error"]


def test_a_message_shows_on_a_page_as_one_sentence():
    from pieced_admin.web.messages import as_sentence

    assert as_sentence("no billing entity with code 'x'") == "No billing entity with code 'x'."
    assert as_sentence("Refused.") == "Refused."                      # one full stop, not two
    assert as_sentence(ValueError("bexio refused it")) == "bexio refused it."  # the name keeps its case
