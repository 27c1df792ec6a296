"""Sign-in sessions on the server (SPEC §7): logout ends them, they expire, roles are read again.

The signed cookie carries only a random token; the row it names (by the
token's SHA-256) says whether the session is still open. Every request checks
the row: ended (logout, an admin), older than `SESSION_MAX_HOURS`, idle longer
than `SESSION_IDLE_MINUTES`, or — when `ROLE_REFRESH_MINUTES` have passed — no
longer confirmed by the provider's userinfo, and the cookie stops working.
All times come from the app's one clock.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..extensions import db
from ..models import User, UserSession

log = logging.getLogger(__name__)

# A request within this time of the last one does not write last_seen_at again.
SEEN_RESOLUTION = timedelta(seconds=60)
# Rows of sessions older than this are deleted when their user signs in again.
KEEP_ENDED = timedelta(days=30)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _limits() -> tuple[timedelta, timedelta, timedelta]:
    cfg = current_app.config
    return (timedelta(hours=cfg["SESSION_MAX_HOURS"]), timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]),
            timedelta(minutes=cfg["ROLE_REFRESH_MINUTES"]))


def start_session(user: User, token: dict) -> str:
    """Open a session for `user` with the provider's `token`; returns the cookie's token. Flushes."""
    raw = secrets.token_urlsafe(32)
    now = clock.now()
    db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id,
                                                    UserSession.created_at < now - KEEP_ENDED))
    db.session.add(UserSession(
        id=_digest(raw), user_id=user.id, created_at=now, last_seen_at=now, roles_checked_at=now,
        access_token=token.get("access_token"), id_token=token.get("id_token"),
    ))
    db.session.flush()
    return raw


def find_session(raw: str | None) -> UserSession | None:
    """The open or ended row the cookie's token names, or None."""
    if not raw or not isinstance(raw, str):
        return None
    return db.session.get(UserSession, _digest(raw))


def end_session(row: UserSession, reason: str) -> None:
    """Close one session (its cookie no longer works). Flushes."""
    if row.ended_at is None:
        row.ended_at = clock.now()
        row.end_reason = reason[:80]
        row.access_token = None
        db.session.flush()


def end_user_sessions(user_id: int, reason: str) -> int:
    """Close every open session of a user; returns how many. Flushes."""
    rows = db.session.execute(
        sa.select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    ).scalars().all()
    for row in rows:
        end_session(row, reason)
    return len(rows)


def open_session_counts() -> dict[int, int]:
    """Per user id, how many sessions are open and within their limits."""
    max_age, idle, _ = _limits()
    now = clock.now()
    rows = db.session.execute(
        sa.select(UserSession.user_id, sa.func.count())
        .where(UserSession.ended_at.is_(None), UserSession.created_at > now - max_age,
               UserSession.last_seen_at > now - idle)
        .group_by(UserSession.user_id)
    ).all()
    return {user_id: int(n) for user_id, n in rows}


@dataclass
class UserRow:
    user: User
    open_sessions: int


def users_with_sessions() -> list[UserRow]:
    """Everyone who signed in, latest first, with their open sessions."""
    counts = open_session_counts()
    users = db.session.execute(
        sa.select(User).order_by(User.last_login_at.desc().nulls_last(), User.id)
    ).scalars().all()
    return [UserRow(u, counts.get(u.id, 0)) for u in users]


@dataclass
class Checked:
    user: User | None
    reason: str | None = None  # why the session ended, when it did


def check_session(raw: str | None, user_id: str | None) -> Checked:
    """The user of a still valid session, after the checks of every request; commits what it changed."""
    found = None
    if raw and isinstance(raw, str):
        # One statement, always sent (never answered from the identity map): the row may have been
        # ended by another request since.
        found = db.session.execute(
            sa.select(UserSession, User).join(User, User.id == UserSession.user_id)
            .where(UserSession.id == _digest(raw)).execution_options(populate_existing=True)
        ).first()
    if found is None or user_id is None or str(found[0].user_id) != str(user_id):
        return Checked(None, "not signed in")
    row, user = found
    if row.ended_at is not None:
        return Checked(None, row.end_reason or "signed out")
    max_age, idle, refresh_every = _limits()
    now = clock.now()
    reason = None
    if now - row.created_at >= max_age:
        reason = f"the session reached its limit of {current_app.config['SESSION_MAX_HOURS']} hours"
    elif now - row.last_seen_at >= idle:
        reason = f"no activity for {current_app.config['SESSION_IDLE_MINUTES']} minutes"
    refreshed = reason is None and now - row.roles_checked_at >= refresh_every
    if refreshed:
        reason = _refresh_roles(row, user)
    if reason is not None:
        end_session(row, reason)
        db.session.commit()
        log.info("session of %s ended: %s", user.sub if user else row.user_id, reason)
        return Checked(None, reason)
    if refreshed or now - row.last_seen_at >= SEEN_RESOLUTION:
        row.last_seen_at = now
        db.session.commit()
    return Checked(user)


def _refresh_roles(row: UserSession, user: User) -> str | None:
    """Read the user's roles again from the provider; a reason to end the session, or None."""
    from .oidc import LoginProviderError, fresh_claims, roles_from_claims

    try:
        claims = fresh_claims(row.access_token, expected_sub=user.sub)
    except LoginProviderError as exc:
        return str(exc)[:80]
    roles = roles_from_claims(claims, current_app.config)
    if roles != (user.roles or []):
        log.info("roles of %s changed at the provider: %s -> %s", user.sub, user.roles, roles)
        user.roles = roles
    row.roles_checked_at = clock.now()
    return None
