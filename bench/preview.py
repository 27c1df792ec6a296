"""Benchmark: preview one org with 50 tenants and a year of events, on a throwaway PostgreSQL.

Prints the median time of a preview and the number of SQL statements it runs,
for 50 tenants and for 5 tenants (the count must be the same: it does not grow
with tenants or events). Run: .venv/bin/python bench/preview.py
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PIECED_ENV", "development")

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from tests.peers.postgres import start_postgres  # noqa: E402
from tests.sqlcount import count_statements  # noqa: E402

ZURICH = ZoneInfo("Europe/Zurich")
SKILLS = ["searxng-local-search", "web-browser", "document-rag", "calendar-sync", "voice-transcription"]


def generate(conn, org_id: str, tenants: int, rng: random.Random) -> int:
    """A year of history (Nov 2025 – Oct 2026) for one org; returns the number of events."""
    start = datetime(2025, 11, 1, tzinfo=ZURICH)
    events = 0
    with conn.cursor() as cur:
        cur.execute("INSERT INTO org_billing_config (zitadel_org_id, display_name) VALUES (%s, %s)",
                    (org_id, org_id.title()))
        for t in range(tenants):
            name = f"{org_id}-tenant-{t:03d}"
            created = start + timedelta(days=rng.randint(0, 60), hours=rng.randint(8, 18))
            cur.execute("INSERT INTO tenant_billing_lifecycle (tenant_name, zitadel_org_id, created_at) "
                        "VALUES (%s, %s, %s)", (name, org_id, created))
            skill_rows, suspension_rows, usage_rows = [], [], []
            on = set()
            moment = created
            while moment < datetime(2026, 11, 1, tzinfo=ZURICH):
                skill = rng.choice(SKILLS)
                kind = "disabled" if skill in on else "enabled"
                (on.discard if kind == "disabled" else on.add)(skill)
                skill_rows.append((name, skill, kind, moment, "bench"))
                if rng.random() < 0.08:
                    suspension_rows.append((name, "suspended", moment + timedelta(hours=3), "bench"))
                    suspension_rows.append((name, "resumed", moment + timedelta(days=rng.randint(1, 6)), "bench"))
                moment += timedelta(days=rng.randint(2, 7), hours=rng.randint(0, 12))
            day = created
            while day < datetime(2026, 11, 1, tzinfo=ZURICH):
                usage_rows.append((name, "threema_messages", rng.randint(1, 60), day, f"{name}-{day.date()}"))
                day += timedelta(days=1)
            cur.executemany("INSERT INTO tenant_skill_events (tenant_name, skill_id, event_kind, occurred_at, source) "
                            "VALUES (%s, %s, %s, %s, %s)", skill_rows)
            cur.executemany("INSERT INTO tenant_suspension_events (tenant_name, event_kind, occurred_at, source) "
                            "VALUES (%s, %s, %s, %s)", suspension_rows)
            cur.executemany("INSERT INTO tenant_usage (tenant_name, metric, quantity, occurred_at, external_id) "
                            "VALUES (%s, %s, %s, %s, %s)", usage_rows)
            events += len(skill_rows) + len(suspension_rows)
    conn.commit()
    return events


def main() -> None:
    server = start_postgres()
    try:
        with psycopg.connect(server.url, autocommit=True) as c:
            c.execute("CREATE DATABASE bench")
        url = server.url_for("bench")
        from flask_migrate import upgrade

        from pieced_admin import create_app
        from pieced_admin.billing.days import Period
        from pieced_admin.billing.issuing import preview_invoices
        from pieced_admin.extensions import db

        app = create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://"),
                          "PIECED_ENV": "development", "SECRET_KEY": "bench"})
        with app.app_context():
            upgrade()
            db.session.execute(sa.text(
                "UPDATE platform_pricing SET tenant_monthly_fee_chf=49, tenant_setup_fee_chf=99, "
                "threema_message_chf=0.005"))
            for i, skill in enumerate(SKILLS):
                db.session.execute(sa.text("INSERT INTO skill_pricing (skill_id, daily_price_chf) VALUES (:s, :p)"),
                                   {"s": skill, "p": 0.05 * (i + 1)})
            db.session.commit()
        rng = random.Random(7)
        with psycopg.connect(url) as conn:
            big_events = generate(conn, "org-big", 50, rng)
            small_events = generate(conn, "org-small", 5, rng)
            conn.execute("ANALYZE")
        period = Period(2026, 10)
        results = {}
        with app.app_context():
            for org in ("org-big", "org-small"):
                preview_invoices(org, period)
                db.session.rollback()
                times = []
                for _ in range(15):
                    t0 = time.perf_counter()
                    preview_invoices(org, period)
                    times.append(time.perf_counter() - t0)
                    db.session.rollback()
                with count_statements() as counter:
                    items = preview_invoices(org, period)
                db.session.rollback()
                lines = sum(len(i.draft.lines) for i in items)
                results[org] = (statistics.median(times), counter.count, lines)
        print("Preview of October 2026, PostgreSQL, in-process (median of 15)")
        print(f"  50 tenants, {big_events:,} events in the year: {results['org-big'][0] * 1000:7.1f} ms, "
              f"{results['org-big'][1]} SQL statements, {results['org-big'][2]} lines")
        print(f"   5 tenants, {small_events:,} events in the year: {results['org-small'][0] * 1000:7.1f} ms, "
              f"{results['org-small'][1]} SQL statements, {results['org-small'][2]} lines")
        same = results["org-big"][1] == results["org-small"][1]
        print(f"  statement count independent of tenants and events: {'yes' if same else 'NO'}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
