"""Every setting of pieced-admin, read from the environment in one place.

`load_config()` works with no environment at all: it then describes the
embedded default (SQLite under `instance/`, development mode). Production is
any environment that names its own database or says `PIECED_ENV=production`;
there a missing `SECRET_KEY` or OIDC setting stops start-up with one line.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"

ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message is one line a person can act on."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"cannot read {value!r} as true/false")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the usual short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_config(env: Mapping[str, str] | None = None, instance_path: Path | None = None) -> dict:
    """Read every setting (SPEC §5) from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    instance = Path(env.get("PIECED_INSTANCE_PATH") or instance_path or DEFAULT_INSTANCE_PATH)

    database_url = env.get("DATABASE_URL", "").strip()
    pieced_env = env.get("PIECED_ENV", "").strip().lower()
    if not pieced_env:
        # The embedded default (no database named) is a developer's laptop.
        pieced_env = "production" if database_url else "development"
    if pieced_env not in ENVIRONMENTS:
        raise ConfigError(f"PIECED_ENV must be one of {', '.join(ENVIRONMENTS)}, got {pieced_env!r}")
    if not database_url:
        database_url = f"sqlite:///{instance / 'pieced-admin.db'}"

    try:
        reminder_days = tuple(
            int(x) for x in env.get("REMINDER_LEVEL_DAYS", "7,21,35").split(",") if x.strip()
        )
    except ValueError:
        raise ConfigError("REMINDER_LEVEL_DAYS must be whole numbers separated by commas, e.g. 7,21,35") from None

    cfg: dict = {
        "PIECED_ENV": pieced_env,
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SECRET_KEY": env.get("SECRET_KEY", ""),
        # OIDC (Zitadel in production)
        "OIDC_ISSUER": env.get("OIDC_ISSUER", "").rstrip("/"),
        "OIDC_CLIENT_ID": env.get("OIDC_CLIENT_ID", ""),
        "OIDC_CLIENT_SECRET": env.get("OIDC_CLIENT_SECRET", ""),
        "OIDC_SCOPES": env.get("OIDC_SCOPES", "openid email profile"),
        "OIDC_ROLES_CLAIM": env.get("OIDC_ROLES_CLAIM", "urn:zitadel:iam:org:project:roles"),
        "ADMIN_ROLE": env.get("ADMIN_ROLE", "platform-admin"),
        "FINANCE_ROLE": env.get("FINANCE_ROLE", "finance"),
        # Billing
        "BILLING_TIMEZONE": env.get("BILLING_TIMEZONE", "Europe/Zurich"),
        "REMINDER_LEVEL_DAYS": reminder_days,
        # Usage sources
        "LITELLM_URL": env.get("LITELLM_URL", "").rstrip("/"),
        "LITELLM_API_KEY": env.get("LITELLM_API_KEY", ""),
        "LITELLM_TIMEOUT": _int(env, "LITELLM_TIMEOUT", 10),
        "USAGE_INGEST_TOKEN": env.get("USAGE_INGEST_TOKEN", ""),
        # Kubernetes
        "KUBECONFIG": env.get("KUBECONFIG", ""),
        "TENANT_CRD_GROUP": env.get("TENANT_CRD_GROUP", "pieced.ch"),
        "TENANT_CRD_VERSION": env.get("TENANT_CRD_VERSION", "v1"),
        "TENANT_CRD_PLURAL": env.get("TENANT_CRD_PLURAL", "piecedtenants"),
        "TENANT_NAMESPACE": env.get("TENANT_NAMESPACE", ""),
        "TENANT_ORG_LABEL": env.get("TENANT_ORG_LABEL", "pieced.ch/zitadel-org-id"),
        "KUBE_API_HOST": env.get("KUBE_API_HOST", ""),
        # Stripe
        "STRIPE_API_KEY": env.get("STRIPE_API_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", "").rstrip("/"),
        "STRIPE_TIMEOUT": _int(env, "STRIPE_TIMEOUT", 30),
        "STRIPE_MAX_NETWORK_RETRIES": _int(env, "STRIPE_MAX_NETWORK_RETRIES", 2),
        # bexio (accounting): no token means bexio is not configured
        "BEXIO_API_URL": (env.get("BEXIO_API_URL", "").strip() or "https://api.bexio.com").rstrip("/"),
        "BEXIO_TOKEN": env.get("BEXIO_TOKEN", "").strip(),
        # Mail
        "SMTP_HOST": env.get("SMTP_HOST", ""),
        "SMTP_PORT": _int(env, "SMTP_PORT", 25),
        "SMTP_USER": env.get("SMTP_USER", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool(env.get("SMTP_STARTTLS"), False),
        "SMTP_TIMEOUT": _int(env, "SMTP_TIMEOUT", 30),
        "MAIL_FROM": env.get("MAIL_FROM", ""),
        # Where links in e-mails and Stripe return URLs point
        "PUBLIC_URL": env.get("PUBLIC_URL", "").rstrip("/"),
        # Web
        "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
        # Sessions (SPEC §7): absolute and idle limits, and how often roles are read again from the provider
        "SESSION_MAX_HOURS": _int(env, "SESSION_MAX_HOURS", 12),
        "SESSION_IDLE_MINUTES": _int(env, "SESSION_IDLE_MINUTES", 60),
        "ROLE_REFRESH_MINUTES": _int(env, "ROLE_REFRESH_MINUTES", 15),
    }

    if pieced_env == "production":
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["REMEMBER_COOKIE_SECURE"] = True
        cfg["PREFERRED_URL_SCHEME"] = "https"
    if pieced_env == "testing":
        cfg["TESTING"] = True
    return cfg


def check_required(cfg: dict) -> None:
    """Stop start-up outside development when a setting that cannot be guessed is missing."""
    if cfg["PIECED_ENV"] != "production":
        return
    missing = [
        name
        for name in ("SECRET_KEY", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")
        if not cfg.get(name)
    ]
    if missing:
        raise ConfigError(
            "missing setting(s) " + ", ".join(missing)
            + " (required when PIECED_ENV=production; see docs/OPERATIONS.md)"
        )


# Every value the repository's examples (deploy/) give a secret: never acceptable in production.
# tests/test_security_settings.py checks that this list covers every value in deploy/.
EXAMPLE_SECRET_VALUES = frozenset({
    "CHANGE-ME", "sk-CHANGE-ME", "sk_live_CHANGE-ME", "whsec_CHANGE-ME",
    "postgresql://pieced_admin:CHANGE-ME@postgres.pieced.svc.cluster.local:5432/pieced_admin",
    "test-secret-key", "test-ingest-token",
})
MIN_SECRET_LENGTH = 32


def repository_example_values(root: Path = PROJECT_ROOT) -> frozenset[str]:
    """Every value written in the deploy/ examples of this checkout (none in an image without them)."""
    values: set[str] = set()
    folder = root / "deploy"
    if folder.is_dir():
        for path in folder.rglob("*.yaml"):
            for line in path.read_text(errors="replace").splitlines():
                key, sep, value = line.partition(": ")
                value = value.split(" #", 1)[0].strip().strip("\"'")
                if sep and value and not key.strip().startswith("#"):
                    values.add(value)
    return frozenset(values)


def _is_example(value: str) -> bool:
    lowered = value.lower()
    return (value in EXAMPLE_SECRET_VALUES or "change-me" in lowered or "changeme" in lowered
            or value in repository_example_values())


def check_serving_settings(cfg: Mapping) -> None:
    """Refuse to serve the web app in production with a guessable secret or no public URL (SPEC §7).

    Runs where the web app is served (wsgi.py), not for CLI commands, which sign no cookies and take
    no bearer tokens. `SECRET_KEY` and `USAGE_INGEST_TOKEN` (when set: empty disables the ingest)
    must be at least 32 characters and none of the repository's example values; the other secrets
    must not be example values; `PUBLIC_URL` must name the https address the admin is reached at
    (it builds the OIDC callback, never the Host header).
    """
    if cfg.get("PIECED_ENV") != "production":
        return
    problems = []
    for name in ("SECRET_KEY", "USAGE_INGEST_TOKEN"):
        value = str(cfg.get(name) or "")
        if not value and name == "USAGE_INGEST_TOKEN":
            continue
        if _is_example(value):
            problems.append(f"{name} is a placeholder from the repository's examples")
        elif len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{name} is shorter than {MIN_SECRET_LENGTH} characters")
    # Secrets whose form the provider decides: only the placeholders are refused.
    for name in ("OIDC_CLIENT_SECRET", "LITELLM_API_KEY", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "SMTP_PASSWORD",
                 "BEXIO_TOKEN"):
        value = str(cfg.get(name) or "")
        if value and _is_example(value):
            problems.append(f"{name} is a placeholder from the repository's examples")
    public = str(cfg.get("PUBLIC_URL") or "")
    if not public.startswith("https://") or len(public) <= len("https://"):
        problems.append("PUBLIC_URL must be the https:// address the admin is reached at")
    if problems:
        raise ConfigError(
            "; ".join(problems)
            + " (PIECED_ENV=production; make a secret with: python -c 'import secrets; print(secrets.token_hex(32))')"
        )


def development_secret_key(instance: Path) -> str:
    """A per-checkout random key, kept under instance/, so dev sessions survive restarts."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
