"""Error pages that fit the shell (HTML) or a JSON error (API), and that render without the database.

An error page must never need what may have failed: when the database does not
answer, the page is the app's own 503 (the user shown as signed out, nothing
read), and any page whose rendering fails falls back to a plain page of ours,
never the server's bare "Internal Server Error".
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, g, jsonify, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

DATABASE_DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, sa.exc.DisconnectionError)

FALLBACK = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · PieCed billing</title>
<link rel="stylesheet" href="/static/vendor/pico-2.1.1/pico.min.css"><link rel="stylesheet" href="/static/app.css">
</head><body><main class="container"><article class="narrow error-page"><header><h1>{title}</h1></header>
<p>{message}</p><a href="/">Back to the dashboard</a></article></main></body></html>"""


def _is_api() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/stripe/")


def database_down(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached (not a bad statement)."""
    if isinstance(exc, DATABASE_DOWN):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


def _as_signed_out() -> None:
    """Render what follows without loading the user (that needs the database)."""
    from ..extensions import login_manager

    g._login_user = login_manager.anonymous_user()


def _rollback() -> None:
    from ..extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection may be gone: nothing to undo then
        log.debug("rollback after an error failed", exc_info=True)


def render_error(template: str, code: int, title: str, message: str, **context):
    """The page `template`; if that cannot render, the same page without the user; else a plain page."""
    for attempt in (1, 2):
        try:
            return render_template(template, **context), code
        except Exception as exc:  # noqa: BLE001 - an error page must not fail
            log.warning("error page %s could not render (%s); %s", template, exc.__class__.__name__,
                        "retrying signed out" if attempt == 1 else "plain page")
            _rollback()
            _as_signed_out()
    return FALLBACK.format(title=escape(title), message=escape(message)), code, {"Content-Type": "text/html; charset=utf-8"}


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if _is_api():
            return jsonify(error=exc.description or exc.name), exc.code
        code = exc.code or 500
        if code == 403 and exc.description == "no-role":
            return render_error("errors/no_role.html", 403, "No role", "Your account has no role in pieced-admin.")
        template = f"errors/{code}.html" if code in (400, 403, 404, 405) else "errors/generic.html"
        return render_error(template, code, exc.name, exc.description or exc.name, error=exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        down = database_down(exc)
        if app.testing and not app.config.get("RENDER_500_IN_TESTS"):
            raise exc  # a test should see the traceback, not a friendly page
        _rollback()
        if down:
            log.error("database unavailable on %s %s: %s", request.method, request.path, exc.__class__.__name__)
            _as_signed_out()
            if _is_api():
                return jsonify(error="the database is not answering; try again shortly"), 503, {"Retry-After": "30"}
            body, code, *rest = render_error(
                "errors/503.html", 503, "The database is not answering",
                "pieced-admin cannot reach its database right now. Nothing was changed; try again in a minute.")
            headers = {**(rest[0] if rest else {}), "Retry-After": "30"}
            return body, code, headers
        log.exception("unexpected error on %s %s", request.method, request.path)
        if _is_api():
            return jsonify(error="internal error; the details are in the server log"), 500
        return render_error("errors/500.html", 500, "Something went wrong",
                            "The server could not finish this request. Nothing was changed by it.")
