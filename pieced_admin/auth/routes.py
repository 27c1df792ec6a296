"""Login, the OIDC callback and logout."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from authlib.integrations.base_client.errors import OAuthError
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from requests.exceptions import RequestException

from ..extensions import db
from ..models import User
from ..models.types import utcnow
from .access import public
from .oidc import client, roles_from_claims

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
        return oidc.authorize_redirect(url_for("auth.callback", _external=True))
    except (RequestException, OAuthError, ValueError) as exc:
        log.warning("OIDC provider unreachable: %s", exc)
        flash(f"The login provider at {current_app.config['OIDC_ISSUER']} did not answer ({exc.__class__.__name__}). Try again in a minute.", "error")
        return redirect(url_for("auth.login"))


@bp.get("/auth/callback")
@public
def callback():
    """The provider sends the browser back here with a code: exchange it and sign the user in."""
    oidc = client()
    if oidc is None:
        return redirect(url_for("auth.login"))
    try:
        token = oidc.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        roles_claim = current_app.config["OIDC_ROLES_CLAIM"]
        if roles_claim not in claims:
            claims.update(oidc.userinfo(token=token))
    except (OAuthError, RequestException, ValueError, KeyError) as exc:
        log.warning("OIDC login failed: %s", exc)
        flash(f"Sign-in did not complete: {getattr(exc, 'description', None) or exc}. Please try again.", "error")
        return redirect(url_for("auth.login"))

    user = db.session.execute(db.select(User).filter_by(sub=claims["sub"])).scalar_one_or_none()
    if user is None:
        user = User(sub=claims["sub"])
        db.session.add(user)
    user.email = claims.get("email") or user.email
    user.name = claims.get("name") or claims.get("preferred_username") or user.name
    user.roles = roles_from_claims(claims, current_app.config)
    user.last_login_at = utcnow()
    db.session.commit()

    target = _safe_next(session.get("login_next") or request.args.get("next"))
    session.clear()  # a fresh session at sign-in (no fixation)
    session["id_token"] = token.get("id_token")
    login_user(user)
    return redirect(target)


@bp.post("/logout")
@public
def logout():
    """Sign out here, then at the provider when it offers an end-session endpoint."""
    id_token = session.get("id_token")
    logout_user()
    session.clear()
    back = url_for("auth.login", signed_out=1, _external=True)
    oidc = client()
    if oidc is not None:
        try:
            end_session = oidc.load_server_metadata().get("end_session_endpoint")
        except (RequestException, OAuthError, ValueError):
            end_session = None
        if end_session:
            params = {"post_logout_redirect_uri": back, "client_id": current_app.config["OIDC_CLIENT_ID"]}
            if id_token:
                params["id_token_hint"] = id_token
            return redirect(f"{end_session}?{urlencode(params)}")
    return redirect(back)
