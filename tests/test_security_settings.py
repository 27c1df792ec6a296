"""Production refuses guessable secrets; `pieced-admin dev` refuses what is not a laptop; proxies are
trusted only by name; the OIDC callback comes from PUBLIC_URL, not the Host header."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from pieced_admin.config import EXAMPLE_SECRET_VALUES, ConfigError, check_serving_settings

ROOT = Path(__file__).resolve().parent.parent
PIECED = str(Path(sys.executable).parent / "pieced-admin")
GOOD = "f" * 64


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OIDC_", "SECRET_KEY", "PIECED_", "DATABASE_URL", "USAGE_", "PUBLIC_URL"))}
    env.update(extra)
    return env


def _production_env(tmp_path, **extra):
    settings = dict(PIECED_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
                    PIECED_INSTANCE_PATH=str(tmp_path), OIDC_ISSUER="https://login.example",
                    OIDC_CLIENT_ID="c", OIDC_CLIENT_SECRET="s", PUBLIC_URL="https://billing.example",
                    SECRET_KEY=GOOD)
    settings.update(extra)
    return _clean_env(**settings)


def _serve(env):
    return subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True)


def _example_values() -> set[str]:
    """Every string value in the deploy/ examples (Secrets' stringData, ConfigMaps' data, env values)."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("stringData", "data") and isinstance(value, dict):
                    found.update(v for v in value.values() if isinstance(v, str))
                elif key == "value" and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in (ROOT / "deploy").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            walk(doc)
    return found


@pytest.mark.parametrize("name, value, says", [
    ("SECRET_KEY", "CHANGE-ME", "SECRET_KEY is a placeholder"),
    ("SECRET_KEY", "CHANGE-ME" * 5, "SECRET_KEY is a placeholder"),
    ("SECRET_KEY", "x" * 31, "SECRET_KEY is shorter than 32"),
    ("USAGE_INGEST_TOKEN", "CHANGE-ME", "USAGE_INGEST_TOKEN is a placeholder"),
    ("USAGE_INGEST_TOKEN", "short-token", "USAGE_INGEST_TOKEN is shorter than 32"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_CHANGE-ME", "STRIPE_WEBHOOK_SECRET is a placeholder"),
    ("OIDC_CLIENT_SECRET", "CHANGE-ME", "OIDC_CLIENT_SECRET is a placeholder"),
    ("PUBLIC_URL", "", "PUBLIC_URL must be the https://"),
    ("PUBLIC_URL", "http://billing.example", "PUBLIC_URL must be the https://"),
])
def test_production_refuses_to_serve_with_a_guessable_secret(tmp_path, name, value, says):
    proc = _serve(_production_env(tmp_path, **{name: value}))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr
    assert value not in lines[0] or value == ""  # the secret itself is never printed


def test_production_serves_with_good_secrets(tmp_path):
    proc = _serve(_production_env(tmp_path, USAGE_INGEST_TOKEN="t" * 40))
    assert proc.returncode == 0, proc.stderr


def test_the_cli_in_production_does_not_need_web_secrets():
    cfg = {"PIECED_ENV": "development", "SECRET_KEY": "CHANGE-ME"}
    check_serving_settings(cfg)  # only production serving checks


def test_every_value_of_the_deploy_examples_is_refused_as_a_secret():
    values = _example_values()
    assert "CHANGE-ME" in values  # the examples were read
    for value in values:
        cfg = {"PIECED_ENV": "production", "SECRET_KEY": value, "PUBLIC_URL": "https://billing.example"}
        with pytest.raises(ConfigError):
            check_serving_settings(cfg)
    # Long example values are refused by name, not just by their length.
    assert {v for v in values if len(v) >= 32 and "CHANGE-ME" in v} <= EXAMPLE_SECRET_VALUES


def test_gunicorn_trusts_forwarded_headers_only_from_named_proxies(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    settings: dict = {}
    exec((ROOT / "deploy" / "gunicorn.conf.py").read_text(), settings)  # noqa: S102 - our own config file
    assert settings["forwarded_allow_ips"] == "127.0.0.1,::1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    settings = {}
    exec((ROOT / "deploy" / "gunicorn.conf.py").read_text(), settings)  # noqa: S102
    assert settings["forwarded_allow_ips"] == "10.0.0.0/8"
    (web,) = [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "web.yaml").read_text())
              if d and d.get("kind") == "Deployment"]
    env = {e["name"]: e.get("value") for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FORWARDED_ALLOW_IPS"] not in ("*", "")


def test_the_oidc_callback_is_built_from_public_url_not_the_host_header(app, client):
    app.config["PUBLIC_URL"] = "https://billing.pieced.test"
    start = client.get("/login/start", headers={"Host": "evil.example", "X-Forwarded-Proto": "https",
                                                "X-Forwarded-Host": "evil.example"})
    redirect_uri = parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == "https://billing.pieced.test/auth/callback"


@pytest.mark.parametrize("args, env, says", [
    (["--host", "0.0.0.0"], {}, "not --host 0.0.0.0"),
    (["--host", "192.168.1.10"], {}, "not --host 192.168.1.10"),
    ([], {"DATABASE_URL": "postgresql://pieced@db.example/pieced"}, "names a postgresql database"),
])
def test_dev_refuses_what_is_not_a_laptop(tmp_path, args, env, says):
    proc = subprocess.run([PIECED, "dev", "--port", "1", *args], cwd=tmp_path, capture_output=True, text=True,
                          env=_clean_env(PIECED_INSTANCE_PATH=str(tmp_path), **env), timeout=60)
    assert proc.returncode == 2, proc.stderr + proc.stdout
    assert says in proc.stderr and "--i-know" in proc.stderr
    assert not (tmp_path / "pieced-admin.db").exists()  # nothing was started or created


def test_dev_refusal_rules():
    from pieced_admin.commands.dev import dev_refusal

    assert dev_refusal("sqlite:///x.db", "127.0.0.1") is None
    assert dev_refusal("sqlite:///x.db", "localhost") is None
    assert dev_refusal("sqlite:///x.db", "::1") is None
    assert dev_refusal("sqlite:///x.db", "127.0.0.2") is None
    assert dev_refusal("sqlite:///x.db", "::") is not None
    assert dev_refusal("postgresql+psycopg://u@h/db", "127.0.0.1") is not None
