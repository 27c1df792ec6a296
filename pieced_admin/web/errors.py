"""Error pages that fit the shell (HTML) or a JSON error (API)."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def _is_api() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/stripe/")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if _is_api():
            return jsonify(error=exc.description or exc.name), exc.code
        code = exc.code or 500
        if code == 403 and exc.description == "no-role":
            return render_template("errors/no_role.html"), 403
        template = f"errors/{code}.html" if code in (400, 403, 404, 405) else "errors/generic.html"
        return render_template(template, error=exc), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        if app.testing and not app.config.get("RENDER_500_IN_TESTS"):
            raise exc  # a test should see the traceback, not a friendly page
        log.exception("unexpected error on %s %s", request.method, request.path)
        if _is_api():
            return jsonify(error="internal error; the details are in the server log"), 500
        return render_template("errors/500.html"), 500
