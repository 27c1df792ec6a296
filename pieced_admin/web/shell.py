"""What every page's shell needs: the navigation for the user's role and the role's name."""

from __future__ import annotations

from flask import Flask, current_app, request, url_for
from flask_login import current_user

from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE

# (label, endpoint, roles that see it)
NAVIGATION = (
    ("Dashboard", "dashboard.index", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Invoices", "invoices.index", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Payments", "bank.index", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Orgs", "orgs.index", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Tenants", "tenants.index", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Pricing", "pricing.index", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Entities", "entities.index", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Billing runs", "runs.index", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Users", "auth.users", (ROLE_ADMIN,)),
    ("VAT return", "reports.vat", (ROLE_ADMIN, ROLE_FINANCE)),
    ("Journal", "reports.journal", (ROLE_ADMIN, ROLE_FINANCE)),
)


def role_label() -> str:
    if not current_user.is_authenticated:
        return ""
    roles = set(current_user.roles or [])
    if ROLE_ADMIN in roles:
        return "Platform admin"
    if ROLE_FINANCE in roles:
        return "Finance"
    return "No role"


def nav_items() -> list[dict]:
    if not current_user.is_authenticated:
        return []
    roles = set(current_user.roles or [])
    items = []
    for label, endpoint, who in NAVIGATION:
        if endpoint not in current_app.view_functions or not roles & set(who):
            continue
        url = url_for(endpoint)
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"label": label, "url": url, "active": active})
    return items


def init_app(app: Flask) -> None:
    @app.context_processor
    def _shell():
        return {"nav_items": nav_items(), "role_label": role_label()}
