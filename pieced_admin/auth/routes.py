"""Login, the OIDC callback and logout."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from authlib.integrations.base_client.errors import OAuthError
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from requests.exceptions import RequestException

from ..extensions import db
from ..audit import record_audit
from ..models import User
from ..models.types import utcnow
from ..web.urls import public_url_for
from .access import admin_only, public
from .oidc import client, roles_from_claims
from .sessions import end_session, end_user_sessions, find_session, start_session, users_with_sessions

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


def _safe_next(target: str | None) -> str:
    """Only follow `next` to a path of this app, never to another site."""
    if not target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.index")
    return target


@bp.get("/login")
@public
def login():
    """The sign-in page (also where logout lands)."""
    if current_user.is_authenticated and not request.args.get("signed_out"):
        return redirect(_safe_next(request.args.get("next")))
    return render_template(
        "auth/login.html",
        next=request.args.get("next", ""),
        configured=client() is not None,
        signed_out=bool(request.args.get("signed_out")),
    )


@bp.get("/login/start")
@public
def login_start():
    """Send the browser to the provider (authorization code + PKCE)."""
    oidc = client()
    if oidc is None:
        flash("No login provider is configured (OIDC_ISSUER). For a local try-out run `pieced-admin dev`.", "error")
        return redirect(url_for("auth.login"))
    session["login_next"] = _safe_next(request.args.get("next"))
    try:
        return oidc.authorize_redirect(public_url_for("auth.callback"))
    except (RequestException, OAuthError, ValueError) as exc:
        log.warning("OIDC provider unreachable: %s", exc)
        flash(f"The login provider at {current_app.config['OIDC_ISSUER']} did not answer ({exc.__class__.__name__}). Try again in a minute.", "error")
        return redirect(url_for("auth.login"))


class SignInFailed(Exception):
    """The provider's answer cannot sign anyone in; the message says why."""


def _sign_in_failed(what: str):
    flash(f"Sign-in did not complete: {what}. Please try again.", "error")
    return redirect(url_for("auth.login"))


def _claims_from_provider(oidc) -> tuple[dict, dict]:
    """Exchange the code; the verified ID token's claims (plus userinfo when roles are not in it)."""
    token = oidc.authorize_access_token()
    id_claims = dict(token.get("userinfo") or {})
    if not id_claims.get("sub"):
        raise SignInFailed("the provider sent no valid ID token")
    claims = dict(id_claims)
    if current_app.config["OIDC_ROLES_CLAIM"] not in claims:
        info = dict(oidc.userinfo(token=token) or {})
        # OIDC Core §5.3.2: a userinfo answer about another subject must not be used.
        if info.get("sub") != id_claims["sub"]:
            raise SignInFailed("the provider's userinfo names another user than its ID token")
        claims.update(info)
        claims["sub"] = id_claims["sub"]
    return token, claims


@bp.get("/auth/callback")
@public
def callback():
    """The provider sends the browser back here with a code: exchange it and sign the user in."""
    oidc = client()
    if oidc is None:
        return redirect(url_for("auth.login"))
    try:
        token, claims = _claims_from_provider(oidc)
    except SignInFailed as exc:
        log.warning("OIDC login refused: %s", exc)
        return _sign_in_failed(str(exc))
    except (OAuthError, RequestException, ValueError, KeyError) as exc:
        log.warning("OIDC login failed: %s", exc)
        return _sign_in_failed(str(getattr(exc, "description", None) or exc))
    except Exception as exc:  # a hostile or broken provider must never end in a bare 500
        if "jose" in type(exc).__module__:  # joserfc / authlib.jose: signature, issuer, audience, expiry…
            log.warning("OIDC login failed, ID token invalid: %r", exc)
            return _sign_in_failed(f"the provider's ID token is not valid ({getattr(exc, 'error', None) or exc})")
        log.exception("OIDC login failed unexpectedly")
        return _sign_in_failed(f"the provider's answer could not be read ({exc.__class__.__name__})")

    user = db.session.execute(db.select(User).filter_by(sub=claims["sub"])).scalar_one_or_none()
    if user is None:
        user = User(sub=str(claims["sub"])[:255])
        db.session.add(user)
    user.email = _text(claims.get("email"), 254) or user.email
    user.name = _text(claims.get("name") or claims.get("preferred_username"), 200) or user.name
    user.roles = roles_from_claims(claims, current_app.config)
    user.last_login_at = utcnow()
    db.session.flush()
    previous = find_session(session.get("sid"))
    if previous is not None:
        end_session(previous, "signed in again")
    sid = start_session(user, token)
    db.session.commit()

    target = _safe_next(session.get("login_next") or request.args.get("next"))
    session.clear()  # a fresh session at sign-in (no fixation)
    session["sid"] = sid
    login_user(user)
    return redirect(target)


def _text(value, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


@bp.post("/logout")
@public
def logout():
    """Sign out here, then at the provider when it offers an end-session endpoint."""
    row = find_session(session.get("sid"))
    id_token = row.id_token if row is not None else None
    if row is not None:
        end_session(row, "signed out")
        db.session.commit()
    logout_user()
    session.clear()
    back = public_url_for("auth.login", signed_out=1)
    oidc = client()
    if oidc is not None:
        try:
            end_session_url = oidc.load_server_metadata().get("end_session_endpoint")
        except (RequestException, OAuthError, ValueError):
            end_session_url = None
        if end_session_url:
            params = {"post_logout_redirect_uri": back, "client_id": current_app.config["OIDC_CLIENT_ID"]}
            if id_token:
                params["id_token_hint"] = id_token
            return redirect(f"{end_session_url}?{urlencode(params)}")
    return redirect(back)


@bp.get("/users")
@admin_only
def users():
    """Who signed in, with their open sessions; an admin can end them."""
    return render_template("auth/users.html", rows=users_with_sessions())


@bp.post("/users/<int:user_id>/sessions/end")
@admin_only
def end_sessions(user_id: int):
    """End every open session of one user: their browsers must sign in again."""
    user = db.get_or_404(User, user_id)
    ended = end_user_sessions(user.id, f"ended by {current_user.label}")
    record_audit("user.sessions_ended", "user", user.sub, note=f"{ended} open session(s) ended")
    db.session.commit()
    flash(f"Ended {ended} session{'' if ended == 1 else 's'} of {user.label}.", "success")
    return redirect(url_for("auth.users"))
