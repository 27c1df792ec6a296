"""The deployment files parse and say what docs/OPERATIONS.md promises (no cluster or Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pieced_admin.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"

# SPEC §5 "Settings", plus what operations need besides.
SPEC_SETTINGS = {
    "DATABASE_URL", "SECRET_KEY", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_ROLES_CLAIM",
    "ADMIN_ROLE", "FINANCE_ROLE", "BILLING_TIMEZONE", "LITELLM_URL", "LITELLM_API_KEY", "USAGE_INGEST_TOKEN",
    "KUBECONFIG", "TENANT_CRD_GROUP", "TENANT_CRD_VERSION", "TENANT_CRD_PLURAL", "TENANT_NAMESPACE",
    "TENANT_ORG_LABEL", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "SMTP_HOST", "SMTP_PORT",
    "SMTP_USER", "SMTP_PASSWORD", "SMTP_STARTTLS", "MAIL_FROM",
}
OPERATIONS_SETTINGS = {"PIECED_ENV", "PUBLIC_URL", "REMINDER_LEVEL_DAYS", "BEXIO_API_URL", "BEXIO_TOKEN"}
SECRET_SETTINGS = {"DATABASE_URL", "SECRET_KEY", "OIDC_CLIENT_SECRET", "LITELLM_API_KEY", "USAGE_INGEST_TOKEN",
                   "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "SMTP_PASSWORD", "BEXIO_TOKEN"}


def documents() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out


def by_kind(kind: str) -> list[tuple[str, dict]]:
    return [(name, d) for name, d in documents() if d.get("kind") == kind]


def pod_spec(doc: dict) -> dict:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def workloads() -> list[tuple[str, dict]]:
    return [(n, d) for n, d in documents() if d.get("kind") in ("Deployment", "Job", "CronJob")]


def test_every_yaml_file_parses_into_kubernetes_objects():
    docs = documents()
    assert len(docs) >= 10
    for name, doc in docs:
        assert {"apiVersion", "kind"} <= doc.keys(), name
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], name


def test_the_config_map_and_secret_name_every_setting():
    (_, config), = [(n, d) for n, d in by_kind("ConfigMap") if d["metadata"]["name"] == "pieced-admin-config"]
    (_, secret), = [(n, d) for n, d in by_kind("Secret") if d["metadata"]["name"] == "pieced-admin-secrets"]
    config_keys, secret_keys = set(config["data"]), set(secret["stringData"])
    assert SPEC_SETTINGS | OPERATIONS_SETTINGS <= config_keys | secret_keys
    assert SECRET_SETTINGS <= secret_keys and not SECRET_SETTINGS & config_keys  # secrets only in the Secret
    assert all(isinstance(v, str) for v in config["data"].values())  # ConfigMap values must be strings
    # No typo: every name is one the app reads.
    known = set(load_config({})) | {"DATABASE_URL"}
    assert config_keys | secret_keys <= known, (config_keys | secret_keys) - known


def test_every_workload_runs_the_image_non_root_with_both_setting_sources():
    names = set()
    for file, doc in workloads():
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True, file
        for container in spec["containers"]:
            names.add(container["image"])
            sources = {s.get("configMapRef", s.get("secretRef", {})).get("name") for s in container["envFrom"]}
            assert sources == {"pieced-admin-config", "pieced-admin-secrets"}, file
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, file
    assert names == {"pieced-admin:latest"}  # one image; kustomization.yaml points it at the registry


def test_commands_in_the_manifests_exist_in_the_cli(app):
    cli = app.cli
    commands = []
    for file, doc in workloads():
        for container in pod_spec(doc)["containers"]:
            # args, never command: command would replace the image's tini entrypoint as PID 1.
            assert "command" not in container, file
            argv = container.get("args", [])
            if argv and argv[0] == "pieced-admin":
                commands.append((file, argv[1:]))
    assert len(commands) >= 5
    for file, argv in commands:
        group, rest = cli.commands[argv[0]], argv[1:]
        if hasattr(group, "commands"):
            assert rest[0] in group.commands, (file, argv)
            command = group.commands[rest[0]]
            options = {opt for p in command.params for opt in getattr(p, "opts", [])}
            assert {a for a in rest[1:] if a.startswith("--")} <= options, (file, argv)


def test_web_deployment_probes_healthz_and_the_service_points_at_it():
    (_, web), = [(n, d) for n, d in by_kind("Deployment") if d["metadata"]["name"] == "pieced-admin-web"]
    container = pod_spec(web)["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    (_, service), = [(n, d) for n, d in by_kind("Service") if d["metadata"]["name"] == "pieced-admin-web"]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert "command" not in container and "args" not in container  # the image's gunicorn; migrations are a Job


def test_cron_jobs_run_in_zurich_time():
    crons = {d["metadata"]["name"]: d for _n, d in by_kind("CronJob")}
    monthly, reminders = crons["pieced-admin-run-monthly"]["spec"], crons["pieced-admin-reminders"]["spec"]
    assert (monthly["schedule"], monthly["timeZone"]) == ("0 6 1 * *", "Europe/Zurich")
    assert pod_spec(crons["pieced-admin-run-monthly"])["containers"][0]["args"] == [
        "pieced-admin", "billing", "run-monthly"]
    assert reminders["timeZone"] == "Europe/Zurich" and re.fullmatch(r"\d+ \d+ \* \* \*", reminders["schedule"])
    assert monthly["concurrencyPolicy"] == reminders["concurrencyPolicy"] == "Forbid"


def test_the_sharded_example_is_an_indexed_job_over_its_completion_index():
    (_, job), = [(n, d) for n, d in by_kind("Job") if d["spec"].get("completionMode") == "Indexed"]
    container = pod_spec(job)["containers"][0]
    args = container["args"]
    shard = args[args.index("--shard") + 1]
    assert shard == f"$(JOB_COMPLETION_INDEX)/{job['spec']['completions']}"
    assert job["spec"]["parallelism"] == job["spec"]["completions"]


def test_migrations_run_as_their_own_job():
    (_, job), = [(n, d) for n, d in by_kind("Job") if d["metadata"]["name"] == "pieced-admin-migrate"]
    assert pod_spec(job)["containers"][0]["args"] == ["pieced-admin", "db", "upgrade"]


def test_kustomization_lists_files_that_exist():
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (KUBE / resource).is_file(), resource


def test_dockerfile_builds_a_non_root_gunicorn_image_of_python_311():
    text = "\n".join(line for line in (DEPLOY / "Dockerfile").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]' in text
    assert "db upgrade" not in text
    for path in re.findall(r"^COPY (?!--)(\S+) ", text, re.M):
        assert (ROOT / path).exists(), path
    settings = {}
    exec((DEPLOY / "gunicorn.conf.py").read_text(), settings)  # noqa: S102 - our own config file
    assert settings["worker_class"] == "gthread" and settings["timeout"] >= 30 and settings["max_requests"] == 0


@pytest.mark.parametrize("path", ["docs/OPERATIONS.md"])
def test_operations_guide_covers_the_tasks(path):
    text = (ROOT / path).read_text()
    for heading in ("Settings", "Roll out", "Roll back", "Back up", "Restore", "The monthly run", "Run it by hand", "Shard it",
                    "after a failure", "watcher", "could not be built or run here"):
        assert heading.lower() in text.lower(), heading
    assert "docs/KUBERNETES.md" in text or "KUBERNETES.md" in text
