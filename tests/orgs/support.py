"""Helpers shared by the tests of the configuration pages (pricing, entities, orgs)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from pieced_admin.models import AuditLog

HTMX = {"HX-Request": "true"}


def csrf_token(client) -> str:
    """The CSRF token the shell hands to htmx (the same one the forms carry)."""
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match, "the shell carries the CSRF token"
    return match.group(1)


class Poster:
    """POSTs with a valid CSRF token, as a browser form (or htmx) would send them."""

    def __init__(self, client):
        self.client = client
        self.token = csrf_token(client)

    def __call__(self, url: str, data: dict | None = None, *, htmx: bool = False, **kwargs):
        form = {"csrf_token": self.token, **(data or {})}
        headers = {"X-CSRFToken": self.token, **(HTMX if htmx else {}), **kwargs.pop("headers", {})}
        return self.client.post(url, data=form, headers=headers, **kwargs)


@pytest.fixture
def post(client):
    """`post(url, data, htmx=False)`: a form POST carrying the CSRF token (log in first)."""
    poster: list[Poster] = []

    def _post(*args, **kwargs):
        if not poster:  # the token is read after the login, which starts a new session
            poster.append(Poster(client))
        return poster[0](*args, **kwargs)

    return _post


def audit_entries(session, object_type: str, object_id: str | None = None) -> list[AuditLog]:
    query = sa.select(AuditLog).where(AuditLog.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditLog.object_id == str(object_id))
    return list(session.execute(query.order_by(AuditLog.id)).scalars())


def text(resp) -> str:
    return resp.get_data(as_text=True)
