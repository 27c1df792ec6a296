"""Absolute URLs of the app, from `PUBLIC_URL` when set, never from a request's Host header."""

from __future__ import annotations

from flask import current_app, url_for


def public_url_for(endpoint: str, **values) -> str:
    """The absolute URL of `endpoint` as people and providers reach it (OIDC callback, links in e-mails)."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
