"""`GET /healthz` answers 200 when the database does, 503 when it does not."""

from __future__ import annotations

from pieced_admin import create_app


def test_healthz_is_public_and_ok(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_gone(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
                      "PIECED_ENV": "testing", "TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["status"] == "unavailable"


def test_unknown_pages_get_the_shell_404(admin_client):
    resp = admin_client.get("/no-such-page")
    assert resp.status_code == 404
    assert "Not found" in resp.get_data(as_text=True)
