"""htmx: one helper decides between the full page and the partial for a swap target."""

from __future__ import annotations

from flask import Flask, render_template, request


def is_htmx() -> bool:
    """True for a request made by htmx (not a boosted full navigation)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render_page_or_partial(page: str, partial: str, **context) -> str:
    """Render `partial` for htmx requests and the full `page` (which includes it) otherwise."""
    return render_template(partial if is_htmx() else page, **context)


def init_app(app: Flask) -> None:
    @app.after_request
    def _vary_on_htmx(response):
        # A cached full page must never be served for an htmx request, or the reverse.
        response.vary.add("HX-Request")
        return response
