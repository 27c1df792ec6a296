"""Sign-in against a provider that lies or breaks (tests/peers/hostile_oidc.py, a small local HTTP fake:
oidc-provider-mock is honest, so it cannot send a mismatching userinfo or a forged ID token).

OIDC Core §5.3.2: the userinfo `sub` must equal the ID token's. Any failure is a page that says what
happened, never a 500.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from pieced_admin.extensions import db
from pieced_admin.models import User

from ..conftest import make_test_app
from ..peers.hostile_oidc import HostileOIDC

ROLES = "urn:zitadel:iam:org:project:roles"
CLIENT_ID = "pieced-admin-test"


@pytest.fixture
def hostile():
    fake = HostileOIDC(CLIENT_ID)
    yield fake
    fake.stop()


@pytest.fixture
def hostile_app(db_factory, hostile):
    url = db_factory.fresh()
    app = make_test_app(url, OIDC_ISSUER=hostile.issuer, OIDC_CLIENT_ID=CLIENT_ID, OIDC_CLIENT_SECRET="s3cret")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    db_factory.drop(url)


def _sign_in(app):
    client = app.test_client()
    start = client.get("/login/start")
    assert start.status_code == 302
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    parts = urlsplit(back.headers["Location"])
    done = client.get(f"{parts.path}?{parts.query}")
    return client, done


def _users(app):
    with app.app_context():
        return {u.sub: u.roles for u in db.session.execute(sa.select(User)).scalars()}


def test_userinfo_of_the_same_subject_supplies_the_roles(hostile_app, hostile):
    hostile.userinfo_claims = {ROLES: {"platform-admin": {}}}
    client, done = _sign_in(hostile_app)
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert client.get("/pricing").status_code == 200
    assert _users(hostile_app) == {"alice": ["admin"]}


def test_userinfo_about_another_subject_signs_nobody_in(hostile_app, hostile):
    hostile.userinfo_sub = "the-real-admin"
    hostile.userinfo_claims = {ROLES: {"platform-admin": {}}}
    client, done = _sign_in(hostile_app)
    assert done.status_code == 302 and done.headers["Location"].startswith("/login")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Sign-in did not complete" in page and "userinfo names another user" in page
    assert client.get("/pricing").status_code == 302  # not signed in
    assert _users(hostile_app) == {}


@pytest.mark.parametrize("mode", ["bad_signature", "wrong_audience", "wrong_issuer", "expired", "garbage", "none"])
def test_an_invalid_id_token_is_a_page_that_says_so(hostile_app, hostile, mode):
    hostile.id_token_mode = mode
    hostile.userinfo_claims = {ROLES: {"platform-admin": {}}}
    client, done = _sign_in(hostile_app)
    assert done.status_code == 302 and done.headers["Location"].startswith("/login"), done.status_code
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Sign-in did not complete" in page
    assert "ID token" in page
    assert client.get("/").status_code == 302
    assert _users(hostile_app) == {}
