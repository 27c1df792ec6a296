"""Settings: embedded defaults, production requirements, one clear line when missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pieced_admin.config import ConfigError, check_required, load_config, normalise_database_url

ROOT = Path(__file__).resolve().parent.parent


def test_no_environment_means_the_embedded_default(tmp_path):
    cfg = load_config({}, instance_path=tmp_path)
    assert cfg["PIECED_ENV"] == "development"
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'pieced-admin.db'}"
    assert cfg["BILLING_TIMEZONE"] == "Europe/Zurich"
    assert cfg["OIDC_ROLES_CLAIM"] == "urn:zitadel:iam:org:project:roles"
    assert (cfg["ADMIN_ROLE"], cfg["FINANCE_ROLE"]) == ("platform-admin", "finance")
    assert (cfg["TENANT_CRD_GROUP"], cfg["TENANT_CRD_VERSION"], cfg["TENANT_CRD_PLURAL"]) == (
        "pieced.ch", "v1", "piecedtenants")
    assert cfg["TENANT_NAMESPACE"] == ""
    assert cfg["TENANT_ORG_LABEL"] == "pieced.ch/zitadel-org-id"
    assert cfg["REMINDER_LEVEL_DAYS"] == (7, 21, 35)
    check_required(cfg)  # nothing required in development


def test_every_spec_setting_is_read():
    names = ["DATABASE_URL", "SECRET_KEY", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_ROLES_CLAIM",
             "ADMIN_ROLE", "FINANCE_ROLE", "BILLING_TIMEZONE", "LITELLM_URL", "LITELLM_API_KEY",
             "USAGE_INGEST_TOKEN", "KUBECONFIG", "TENANT_CRD_GROUP", "TENANT_CRD_VERSION", "TENANT_CRD_PLURAL",
             "TENANT_NAMESPACE", "TENANT_ORG_LABEL", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
             "SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "MAIL_FROM"]
    env = {n: f"value-{n.lower()}" for n in names}
    env.update(DATABASE_URL="postgresql://u@h/db", SMTP_PORT="587", SMTP_STARTTLS="true", PIECED_ENV="production")
    cfg = load_config(env)
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    for name in names:
        if name == "DATABASE_URL":
            continue
        assert cfg[name] == f"value-{name.lower()}", name
    assert cfg["SMTP_PORT"] == 587 and cfg["SMTP_STARTTLS"] is True


def test_bexio_is_off_without_a_token_and_talks_to_its_public_api_by_default():
    cfg = load_config({})
    assert (cfg["BEXIO_API_URL"], cfg["BEXIO_TOKEN"]) == ("https://api.bexio.com", "")
    cfg = load_config({"BEXIO_API_URL": "http://127.0.0.1:8080/", "BEXIO_TOKEN": " pat-123 "})
    assert (cfg["BEXIO_API_URL"], cfg["BEXIO_TOKEN"]) == ("http://127.0.0.1:8080", "pat-123")


def test_a_named_database_means_production_with_secure_cookies():
    cfg = load_config({"DATABASE_URL": "postgresql://u@h/db"})
    assert cfg["PIECED_ENV"] == "production"
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True
    with pytest.raises(ConfigError, match="SECRET_KEY, OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET"):
        check_required(cfg)


def test_bad_values_are_named():
    with pytest.raises(ConfigError, match="SMTP_PORT"):
        load_config({"SMTP_PORT": "twenty-five"})
    with pytest.raises(ConfigError, match="PIECED_ENV"):
        load_config({"PIECED_ENV": "staging"})


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "SECRET_KEY", "PIECED_", "DATABASE_URL"))}
    env.update(extra)
    return env


def test_production_start_without_secret_stops_with_one_line(tmp_path):
    env = _clean_env(PIECED_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
                     PIECED_INSTANCE_PATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "SECRET_KEY" in lines[0] and "OIDC_ISSUER" in lines[0]


def test_the_cli_needs_only_a_database_url(tmp_path):
    """`db upgrade` and `billing preview` run with DATABASE_URL and nothing else: no SECRET_KEY, no OIDC."""
    import json
    import sqlite3

    db_file = tmp_path / "x.db"
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite:///{db_file}", "PIECED_NOW": "2026-11-21"}
    pieced = str(Path(sys.executable).parent / "pieced-admin")
    upgrade = subprocess.run([pieced, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert upgrade.returncode == 0, upgrade.stderr
    with sqlite3.connect(db_file) as con:
        con.execute("UPDATE platform_pricing SET tenant_monthly_fee_chf = 49.00 WHERE id = 1")
        con.execute("INSERT INTO tenant_billing_lifecycle (tenant_name, zitadel_org_id, created_at) "
                    "VALUES ('acme-main', 'org-acme', '2026-09-01 08:00:00.000000')")
    preview = subprocess.run([pieced, "billing", "preview", "--org", "org-acme", "--month", "2026-10", "--json"],
                             cwd=tmp_path, env=env, capture_output=True, text=True)
    assert preview.returncode == 0, preview.stderr
    (invoice,) = json.loads(preview.stdout)["invoices"]
    # A whole October at 49.00 a month: 49.00, VAT 8.1 % of it 3.97, total 52.97.
    assert (invoice["net_chf"], invoice["vat_chf"], invoice["total_chf"]) == ("49.00", "3.97", "52.97")
    assert not (tmp_path / "instance").exists() and not list(tmp_path.glob("**/secret_key"))


def test_version_is_the_projects_own():
    from importlib.metadata import version

    proc = subprocess.run([str(Path(sys.executable).parent / "pieced-admin"), "--version"],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"pieced-admin {version('pieced-admin')}"