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


def fresh_claims(access_token: str | None, *, expected_sub: str) -> dict:
    """The user's claims from the provider's userinfo now; LoginProviderError when it does not confirm them.

    A token the provider no longer accepts (user disabled, tokens revoked,
    expired) or a userinfo answer about another subject ends the sign-in.
    """
    import requests

    oidc = client()
    if oidc is None:
        raise LoginProviderError("no login provider is configured")
    if not access_token:
        raise LoginProviderError("no access token to read the roles again")
    try:
        endpoint = oidc.load_server_metadata().get("userinfo_endpoint")
        if not endpoint:
            raise LoginProviderError("the provider offers no userinfo endpoint")
        resp = requests.get(endpoint, headers={"Authorization": f"Bearer {access_token}",
                                               "Accept": "application/json"}, timeout=10)
    except (requests.RequestException, ValueError) as exc:
        raise LoginProviderError(f"the login provider did not answer ({exc.__class__.__name__})") from None
    if resp.status_code in (400, 401, 403):  # invalid_token: revoked, expired, user disabled
        raise LoginProviderError("the login provider no longer accepts this sign-in")
    if resp.status_code != 200:
        raise LoginProviderError(f"the login provider answered HTTP {resp.status_code} to userinfo")
    try:
        claims = resp.json()
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise LoginProviderError("the login provider's userinfo is not a JSON object")
    if claims.get("sub") != expected_sub:
        raise LoginProviderError("the login provider's userinfo names another user")
    return claims
