"""Login through the real OIDC provider, roles from Zitadel's claim, logout."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from pieced_admin.auth.oidc import roles_from_claims
from pieced_admin.models import User

CONFIG = {"OIDC_ROLES_CLAIM": "urn:zitadel:iam:org:project:roles", "ADMIN_ROLE": "platform-admin",
          "FINANCE_ROLE": "finance"}


def test_roles_come_from_the_zitadel_claim():
    claim = CONFIG["OIDC_ROLES_CLAIM"]
    assert roles_from_claims({claim: {"platform-admin": {"1": "x"}}}, CONFIG) == ["admin"]
    assert roles_from_claims({claim: {"finance": {}}}, CONFIG) == ["finance"]
    assert roles_from_claims({claim: {"platform-admin": {}, "finance": {}}}, CONFIG) == ["admin", "finance"]
    assert roles_from_claims({claim: {"viewer": {}}}, CONFIG) == []
    assert roles_from_claims({}, CONFIG) == []


def test_role_names_are_settings():
    config = dict(CONFIG, ADMIN_ROLE="billing-admin")
    claim = CONFIG["OIDC_ROLES_CLAIM"]
    assert roles_from_claims({claim: {"billing-admin": {}}}, config) == ["admin"]
    assert roles_from_claims({claim: {"platform-admin": {}}}, config) == []


def test_login_uses_pkce_and_stores_the_user(client, oidc_provider, session):
    start = client.get("/login/start?next=/")
    params = parse_qs(urlsplit(start.headers["Location"]).query)
    assert params["code_challenge_method"] == ["S256"]
    assert params["code_challenge"][0]
    assert params["response_type"] == ["code"]
    callback = oidc_provider.authorize(start.headers["Location"], "admin")
    parts = urlsplit(callback)
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 302
    user = session.execute(sa.select(User).filter_by(sub="admin")).scalar_one()
    assert user.email == "admin@pieced.local"
    assert user.name == "Ada Admin"
    assert user.roles == ["admin"]
    assert user.last_login_at is not None


def test_admin_sees_the_dashboard_shell(client, login):
    login("admin")
    page = client.get("/").get_data(as_text=True)
    assert "Dashboard" in page
    assert "Platform admin" in page
    assert 'class="main-nav"' in page


def test_finance_sees_the_shell_with_finance_role(client, login):
    login("finance")
    resp = client.get("/")
    assert resp.status_code == 200
    assert "Finance" in resp.get_data(as_text=True)


def test_second_login_updates_the_same_user(client, login, session):
    login("finance")
    login("finance")
    assert session.execute(sa.select(sa.func.count()).select_from(User).filter_by(sub="finance")).scalar() == 1


def test_login_redirects_back_to_the_page_asked_for(client, oidc_provider):
    first = client.get("/pricing")
    assert first.status_code == 302
    login_page = first.headers["Location"]
    assert login_page.startswith("/login?next=")
    nxt = parse_qs(urlsplit(login_page).query)["next"][0]
    start = client.get(f"/login/start?next={nxt}")
    callback = oidc_provider.authorize(start.headers["Location"], "admin")
    parts = urlsplit(callback)
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.headers["Location"] == nxt


def test_next_never_leads_off_site(client, oidc_provider):
    start = client.get("/login/start?next=https://evil.example/")
    callback = oidc_provider.authorize(start.headers["Location"], "admin")
    parts = urlsplit(callback)
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.headers["Location"] == "/"


def test_logout_ends_the_session_at_the_provider_too(client, login, oidc_provider):
    login("admin")
    page = client.get("/").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 302
    target = resp.headers["Location"]
    assert target.startswith(oidc_provider.issuer + "/oauth2/end_session")
    query = parse_qs(urlsplit(target).query)
    assert query["post_logout_redirect_uri"][0].endswith("/login?signed_out=1")
    assert query["id_token_hint"][0]
    assert client.get("/").status_code == 302  # signed out here


def test_logout_without_csrf_token_is_refused(client, login):
    login("admin")
    resp = client.post("/logout")
    assert resp.status_code == 400
    assert client.get("/").status_code == 200  # still signed in


def test_denied_login_shows_a_message(client, oidc_provider):
    import requests

    start = client.get("/login/start")
    resp = requests.post(start.headers["Location"], data={"action": "deny"}, allow_redirects=False, timeout=10)
    parts = urlsplit(resp.headers["Location"])
    back = client.get(f"{parts.path}?{parts.query}", follow_redirects=True)
    assert "Sign-in did not complete" in back.get_data(as_text=True)
