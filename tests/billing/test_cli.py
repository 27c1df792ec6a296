"""The billing CLI's contract: one line and exit 2 for bad input, exit 1 naming an outside system."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..factories import spec_example
from ..peers.litellm_api import LiteLLMServer

PIECED = str(Path(sys.executable).parent / "pieced-admin")


@pytest.mark.parametrize("args,message", [
    (["billing", "preview", "--org", "org-nope", "--month", "2026-10"], "unknown org 'org-nope'"),
    (["billing", "preview", "--org", "org-acme", "--month", "2026-13"], "Invalid month '2026-13'"),
    (["billing", "preview", "--org", "org-acme", "--month", "October"], "expected YYYY-MM"),
    (["billing", "issue", "--org", "org-nope", "--month", "2026-10"], "unknown org"),
    (["billing", "void", "PC-2026-9999", "--reason", "x"], "unknown invoice number 'PC-2026-9999'"),
    (["billing", "mark-paid", "PC-2026-9999"], "unknown invoice number"),
    (["billing", "mark-paid", "PC-2026-9999", "--paid-on", "yesterday"], "--paid-on must be a date"),
    (["billing", "pdf", "PC-2026-9999", "-o", "/tmp/x.pdf"], "unknown invoice number"),
])
def test_bad_input_is_one_line_and_exit_2(session, runner, args, message):
    spec_example()
    session.commit()
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_console_script_prints_one_line_for_a_missing_option(fresh_db):
    env = {**os.environ, "DATABASE_URL": fresh_db.url, "PIECED_ENV": "development"}
    proc = subprocess.run([PIECED, "billing", "void", "PC-2026-0001"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["Error: Missing option '--reason'."]


def test_litellm_down_is_exit_1_naming_litellm(session, runner, app):
    spec_example()
    session.commit()
    with LiteLLMServer(api_key="k") as server:
        server.fail_team("acme-main", 503)
        app.config.update(LITELLM_URL=server.url, LITELLM_API_KEY="k")
        result = runner.invoke(args=["billing", "issue", "--org", "org-acme", "--month", "2026-10"])
    assert result.exit_code == 1
    assert "LiteLLM" in result.output


def test_a_preview_writes_nothing(session, runner):
    from pieced_admin.models import OrgBillingConfig
    import sqlalchemy as sa

    from ..factories import make_tenant, zurich

    make_tenant("lonely", "org-unconfigured", zurich(2026, 9, 1))  # an org known only from its tenant
    session.commit()
    result = runner.invoke(args=["billing", "preview", "--org", "org-unconfigured", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert session.execute(sa.select(OrgBillingConfig).filter_by(zitadel_org_id="org-unconfigured")).first() is None
