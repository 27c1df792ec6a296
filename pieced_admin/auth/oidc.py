"""The OIDC client (Authlib): authorization code with PKCE against the configured provider."""

from __future__ import annotations

from collections.abc import Mapping

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

ROLE_ADMIN = "admin"
ROLE_FINANCE = "finance"
STAFF_ROLES = (ROLE_ADMIN, ROLE_FINANCE)


class LoginProviderError(RuntimeError):
    """The OIDC provider could not be reached or refused the login."""


def register_client(app: Flask) -> None:
    """Give the app its own OAuth registry with the provider from the settings (if any)."""
    registry = OAuth(app)
    app.extensions["pieced_oauth"] = registry
    issuer = app.config.get("OIDC_ISSUER")
    if not issuer:
        return
    registry.register(
        "oidc",
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": app.config["OIDC_SCOPES"],
            "code_challenge_method": "S256",
            "timeout": 10,
        },
    )


def client():
    """The app's OIDC client, or None when no provider is configured."""
    return current_app.extensions["pieced_oauth"].create_client("oidc")


def roles_from_claims(claims: Mapping, config: Mapping) -> list[str]:
    """Our role names from the configured roles claim (Zitadel: an object keyed by role name)."""
    raw = claims.get(config["OIDC_ROLES_CLAIM"])
    if isinstance(raw, Mapping):
        names = set(raw.keys())
    elif isinstance(raw, (list, tuple)):
        names = {str(x) for x in raw}
    elif isinstance(raw, str):
        names = {raw}
    else:
        names = set()
    roles = []
    if config["ADMIN_ROLE"] in names:
        roles.append(ROLE_ADMIN)
    if config["FINANCE_ROLE"] in names:
        roles.append(ROLE_FINANCE)
    return roles
