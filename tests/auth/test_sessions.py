"""SPEC §7 "Sessions end": server-side sessions, their limits, roles read again, ended by an admin.

Time moves through the app's one clock; the provider is the real oidc-provider-mock, whose users
each test creates under a name of its own (`PUT /users/<sub>`), so changing their roles touches no
other test.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.models import User, UserSession

from ..conftest import login_as

ROLES = "urn:zitadel:iam:org:project:roles"
START = "2026-11-16T09:00:00+01:00"


def _provider_user(oidc, role: str | None) -> str:
    sub = f"u-{uuid.uuid4().hex[:10]}"
    _set_role(oidc, sub, role)
    return sub


def _set_role(oidc, sub: str, role: str | None) -> None:
    claims = {"email": f"{sub}@pieced.test", "name": f"User {sub}"}
    if role:
        claims[ROLES] = {role: {"pieced": "pieced.test"}}
    assert requests.put(f"{oidc.issuer}/users/{sub}", json=claims, timeout=10).status_code == 204


def _csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def _at(minutes: float):
    clock.set_now(clock.parse_instant(START) + timedelta(minutes=minutes))


@pytest.fixture(autouse=True)
def _clock():
    # The clock moves as each test says; afterwards it reads the suite's day again.
    with clock.pinned(START):
        yield


def _signed_out(resp) -> bool:
    return resp.status_code == 302 and resp.headers["Location"].startswith("/login")


def test_a_copied_cookie_no_longer_works_after_logout(app, client, login):
    login("admin")
    cookie = client.get_cookie("session").value
    token = _csrf(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", cookie)
    assert _signed_out(replay.get("/invoices"))
    # Its CSRF token opens no door either: the POST is answered as anonymous.
    resp = replay.post("/pricing", data={"csrf_token": token})
    assert _signed_out(resp)


def test_a_session_ends_after_an_hour_without_activity(client, login, session):
    login("admin")
    _at(40)
    assert client.get("/").status_code == 200
    _at(40 + 59)
    assert client.get("/").status_code == 200  # activity moves the idle limit on
    _at(40 + 59 + 60)
    resp = client.get("/invoices")
    assert _signed_out(resp)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Your session ended: no activity for 60 minutes" in page
    assert _signed_out(client.get("/"))  # and stays ended
    row = session.execute(sa.select(UserSession)).scalars().one()
    assert row.ended_at is not None and row.access_token is None


def test_a_session_lasts_at_most_twelve_hours_however_active(client, login):
    login("admin")
    minute = 0
    while minute < 12 * 60 - 50:
        minute += 50
        _at(minute)
        assert client.get("/").status_code == 200, minute
    _at(12 * 60)
    resp = client.get("/")
    assert _signed_out(resp)
    assert "12 hours" in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_the_limits_are_settings(app, client, login):
    app.config.update(SESSION_IDLE_MINUTES=5)
    login("admin")
    _at(4)
    assert client.get("/").status_code == 200
    _at(10)
    assert _signed_out(client.get("/"))


def test_a_role_removed_at_the_provider_stops_working_within_15_minutes(client, oidc_provider, session):
    sub = _provider_user(oidc_provider, "platform-admin")
    login_as(client, sub, oidc_provider)
    assert client.get("/pricing").status_code == 200
    _set_role(oidc_provider, sub, None)
    _at(14)
    assert client.get("/pricing").status_code == 200  # not yet read again
    _at(15)
    resp = client.get("/pricing")
    assert resp.status_code == 403
    assert "no role" in resp.get_data(as_text=True).lower()
    assert session.execute(sa.select(User.roles).filter_by(sub=sub)).scalar_one() == []


def test_admin_demoted_to_finance_can_no_longer_change_prices(client, oidc_provider):
    sub = _provider_user(oidc_provider, "platform-admin")
    login_as(client, sub, oidc_provider)
    token = _csrf(client)
    _set_role(oidc_provider, sub, "finance")
    _at(16)
    assert client.get("/").status_code == 200  # finance may still read
    resp = client.post("/pricing/skills", data={"csrf_token": token, "skill_id": "x", "daily_price_chf": "1"})
    assert resp.status_code == 403


def test_a_disabled_user_is_signed_out_at_the_next_check(client, oidc_provider):
    sub = _provider_user(oidc_provider, "finance")
    login_as(client, sub, oidc_provider)
    assert client.get("/invoices").status_code == 200
    # The provider revokes the user's tokens (a disabled or deleted user).
    assert requests.post(f"{oidc_provider.issuer}/users/{sub}/revoke-tokens", timeout=10).status_code == 204
    _at(15)
    resp = client.get("/invoices")
    assert _signed_out(resp)
    assert "no longer accepts this sign-in" in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_an_admin_ends_a_users_sessions(app, client, login, oidc_provider, session):
    sub = _provider_user(oidc_provider, "finance")
    other = app.test_client()
    with app.app_context():  # a request context of its own (its own g), as another browser has
        login_as(other, sub, oidc_provider)
        assert other.get("/invoices").status_code == 200

    login("admin")
    page = client.get("/users").get_data(as_text=True)
    user_id = session.execute(sa.select(User.id).filter_by(sub=sub)).scalar_one()
    assert f'id="user-{user_id}"' in page and "End sessions" in page
    resp = client.post(f"/users/{user_id}/sessions/end", data={"csrf_token": _csrf(client)}, follow_redirects=True)
    assert "Ended 1 session" in resp.get_data(as_text=True)

    with app.app_context():
        assert _signed_out(other.get("/invoices"))
    assert client.get("/").status_code == 200  # the admin's own session is untouched
    note = session.execute(sa.text("SELECT note FROM audit_log WHERE action = 'user.sessions_ended'")).scalar_one()
    assert "1 open session" in note


def test_finance_cannot_end_sessions(app, client, login, session):
    login("finance")
    user_id = session.execute(sa.select(User.id).filter_by(sub="finance")).scalar_one()
    assert client.get("/users").status_code == 403
    assert client.post(f"/users/{user_id}/sessions/end", headers={"X-CSRFToken": _csrf(client)}).status_code == 403


def test_old_session_rows_are_deleted_when_the_user_signs_in_again(client, login, session):
    login("admin")
    _at(31 * 24 * 60)
    login("admin")
    rows = session.execute(sa.select(UserSession)).scalars().all()
    assert len(rows) == 1 and rows[0].ended_at is None
