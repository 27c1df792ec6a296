"""`pieced-admin tenants watch` as the Deployment runs it: a process that records and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import skill_events, tenant, utc, wait_for  # noqa: F401  (no_kube is a fixture)

pytestmark = [pytest.mark.timeout(120), pytest.mark.sqlite_only]


def test_watch_command_records_and_exits_cleanly_on_sigterm(fresh_db, kube_server, tmp_path):
    kube_server.create(tenant("acme", "org-acme", ["chat"], created=utc(2026, 10, 10, 7)))
    env = {**os.environ, "DATABASE_URL": fresh_db.url, "PIECED_ENV": "testing", "SECRET_KEY": "test",
           "PIECED_INSTANCE_PATH": str(tmp_path), "KUBE_API_HOST": kube_server.url}
    command = [str(Path(sys.executable).parent / "pieced-admin"), "tenants", "watch", "--timeout-seconds", "120"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kube_server.wait_for_watches(timeout=30)
        kube_server.modify("tenants", "acme", {"spec": {"packages": ["chat", "voice"]}})

        def recorded():
            with fresh_db.app.app_context():
                return [(s, k, src) for _, s, k, _, src in skill_events("acme")]
        wait_for(lambda: len(recorded()) == 2, timeout=10, message="the watch process to record voice")
        assert recorded() == [("chat", "enabled", "watch"), ("voice", "enabled", "watch")]

        # The open 120 s watch is cut at once rather than waited out (30 s: room for a loaded machine).
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=40)
        assert time.monotonic() - sent < 30
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "recorded acme: enabled voice" in stderr
    assert "received SIGTERM: stopping" in stderr and "watcher stopped" in stderr


def test_watch_command_says_when_kubernetes_is_not_configured(runner, no_kube):
    result = runner.invoke(args=["tenants", "watch"])
    assert result.exit_code == 1
    assert "Kubernetes is not configured" in result.output
