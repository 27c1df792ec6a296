"""Links to pages of other domains that may not be installed in this build (tenants, invoices)."""

from __future__ import annotations

from flask import current_app, url_for
from werkzeug.routing import BuildError


def endpoint_exists(endpoint: str) -> bool:
    """Whether this app serves the endpoint (a domain's blueprint may not exist yet)."""
    return endpoint in current_app.view_functions


def link_to(endpoint: str, value) -> str | None:
    """The URL of `endpoint` for one object (its rule's single argument set to `value`), or None.

    The argument's name is read from the endpoint's rule, so `tenants.detail`
    links whether its rule says `<name>` or `<tenant_name>`.
    """
    if not endpoint_exists(endpoint):
        return None
    for rule in current_app.url_map.iter_rules(endpoint):
        if len(rule.arguments) == 1:
            try:
                return url_for(endpoint, **{next(iter(rule.arguments)): value})
            except BuildError:
                return None
    return None


def link_context() -> dict:
    """Template helpers: `endpoint_exists(...)` and `link_to(endpoint, value)`."""
    return {"endpoint_exists": endpoint_exists, "link_to": link_to}
