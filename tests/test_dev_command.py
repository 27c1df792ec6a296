"""`pieced-admin dev`: one command gives a working, logged-in admin on SQLite with demo data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

PIECED = str(Path(sys.executable).parent / "pieced-admin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_dev_serves_a_logged_in_admin_with_demo_data(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "OIDC_", "SMTP_", "PIECED_"))}
    env["PIECED_INSTANCE_PATH"] = str(tmp_path)
    proc = subprocess.Popen([PIECED, "dev", "--port", str(port), "--oidc-port", str(_free_port())], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 200
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "pieced-admin dev did not come up"
            time.sleep(0.5)

        browser = requests.Session()
        start = browser.get(f"{base}/login/start", allow_redirects=False)
        authorize = start.headers["Location"]
        assert authorize.startswith("http://127.0.0.1:")  # the local provider, same host name throughout
        page = browser.get(authorize)
        assert 'value="admin"' in page.text and 'value="finance"' in page.text and 'value="nobody"' in page.text
        back = browser.post(authorize, data={"sub": "admin"}, allow_redirects=False)
        home = browser.get(urljoin(base, back.headers["Location"]))
        assert home.status_code == 200
        assert "Dashboard" in home.text and "Platform admin" in home.text
        assert "Acme Treuhand AG" in browser.get(f"{base}/orgs").text  # the demo data is there
        assert (tmp_path / "pieced-admin.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert f"pieced-admin is running at {base}" in output
    for user in ("admin", "finance", "nobody"):
        assert f"    {user} " in output
