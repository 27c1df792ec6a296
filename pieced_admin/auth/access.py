"""Who may call which route, enforced for every request before the view runs.

Routes are closed by default: an unmarked route needs a logged-in user with a
role (platform-admin or finance) to read, and platform-admin to change
anything. A route opens up only by saying so (`public`, `token_auth`) or
admits finance to a change explicitly (`roles(ROLE_ADMIN, ROLE_FINANCE)`), so
a new route can never be left open by accident.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, abort, current_app, flash, g, jsonify, redirect, request, session, url_for
from flask_login import current_user

from .oidc import ROLE_ADMIN, ROLE_FINANCE, STAFF_ROLES

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def public(view: Callable) -> Callable:
    """Anyone may call this route (login pages, health checks)."""
    view._access = "public"
    return view


def token_auth(view: Callable) -> Callable:
    """The view authenticates the caller itself (bearer token, Stripe signature)."""
    view._access = "token"
    return view


def roles(*allowed: str) -> Callable[[Callable], Callable]:
    """Staff with one of these roles may call the route, whatever the method."""

    def decorate(view: Callable) -> Callable:
        view._roles = frozenset(allowed)
        return view

    return decorate


admin_only = roles(ROLE_ADMIN)
staff = roles(ROLE_ADMIN, ROLE_FINANCE)


def allowed_roles(view: Callable, method: str) -> frozenset[str]:
    """The roles that may call `view` with `method` (the default rule when the view says nothing)."""
    explicit = getattr(view, "_roles", None)
    if explicit is not None:
        return explicit
    return frozenset(STAFF_ROLES) if method in READ_METHODS else frozenset({ROLE_ADMIN})


def access_of(view: Callable) -> str:
    return getattr(view, "_access", "staff")


def user_can(view_endpoint: str, method: str = "POST") -> bool:
    """Whether the current user may call an endpoint: templates use it to decide which buttons exist."""
    if not current_user.is_authenticated:
        return False
    view = current_app.view_functions.get(view_endpoint)
    if view is None:
        return False
    if access_of(view) in ("public", "token"):
        return True
    user_roles = set(current_user.roles or [])
    if ROLE_ADMIN in user_roles:
        return True
    return bool(user_roles & allowed_roles(view, method))


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _enforce():
    # Each request asks its session row again (one app context may serve several requests in tests).
    g.pop("_login_user", None)
    g.pop("session_ended", None)
    if request.endpoint is None:
        return None  # 404/405 are answered by Flask
    view = current_app.view_functions.get(request.endpoint)
    if request.endpoint == "static" or view is None:
        return None
    access = access_of(view)
    if access in ("public", "token"):
        return None
    if not current_user.is_authenticated:
        if _wants_json():
            return jsonify(error="authentication required"), 401
        ended = g.pop("session_ended", None)
        if ended:
            flash(f"Your session ended: {ended}. Please sign in again.", "error")
        login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
        if request.headers.get("HX-Request") == "true":
            return "", 401, {"HX-Redirect": login_url}
        return redirect(login_url)
    user_roles = set(current_user.roles or [])
    if not user_roles & set(STAFF_ROLES):
        abort(403, description="no-role")
    if ROLE_ADMIN in user_roles:
        return None
    if not user_roles & allowed_roles(view, request.method):
        abort(403, description="This needs the platform-admin role.")
    return None


def init_app(app: Flask) -> None:
    """Check every request against its route's access rule, and load users for Flask-Login."""
    from ..extensions import login_manager

    from .sessions import check_session

    @login_manager.user_loader
    def load_user(user_id: str):
        # The cookie only names a server-side session: that row decides (logout, limits, roles).
        checked = check_session(session.get("sid"), user_id)
        if checked.user is None:
            for key in ("sid", "_user_id", "_fresh", "_id"):
                session.pop(key, None)
            if checked.reason != "not signed in":
                g.session_ended = checked.reason
        return checked.user

    app.before_request(_enforce)
    app.jinja_env.globals["user_can"] = user_can
    app.jinja_env.globals["ROLE_ADMIN"] = ROLE_ADMIN
    app.jinja_env.globals["ROLE_FINANCE"] = ROLE_FINANCE
