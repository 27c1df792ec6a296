"""Security headers on every response (SPEC §7): no framing, no sniffing, scripts only from us.

The pages load only external scripts (htmx and static/app.js, no inline
handlers) and no third-party resources. Inline `style=` attributes exist (and
htmx adds its indicator style), so styles allow 'unsafe-inline'; scripts do
not. The stored invoice PDF is shown in an <object> on the invoice page, so
PDF responses may be framed by our own pages (frame-ancestors 'self'),
everything else by nobody. Forms post to us; logging out is redirected to the
OIDC provider's end-session endpoint, so its origin is a form target too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response

HSTS = "max-age=31536000; includeSubDomains"


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(app: Flask, *, frame_ancestors: str = "'none'") -> str:
    """The policy of the app's responses."""
    form_targets = ["'self'"]
    issuer = _origin(app.config.get("OIDC_ISSUER", ""))
    if issuer:
        form_targets.append(issuer)
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'self'",
        "base-uri 'self'",
        f"form-action {' '.join(form_targets)}",
        f"frame-ancestors {frame_ancestors}",
    ])


def init_app(app: Flask) -> None:
    """Add the headers to every response (pages, partials, JSON, files, errors)."""
    policies: dict[str, str] = {}

    @app.after_request
    def _headers(response: Response) -> Response:
        pdf = response.mimetype == "application/pdf"
        key = "pdf" if pdf else "page"
        if key not in policies:  # the settings are final once the app serves
            policies[key] = content_security_policy(app, frame_ancestors="'self'" if pdf else "'none'")
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policies[key])
        headers.setdefault("X-Frame-Options", "SAMEORIGIN" if pdf else "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("PIECED_ENV") == "production":
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
