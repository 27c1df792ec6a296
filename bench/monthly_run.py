"""Benchmark of the monthly run on PostgreSQL: a realistic month for 2,000 orgs, 10,000 tenants, ~200,000 events.

Run: .venv/bin/python bench/monthly_run.py [--orgs 2000] [--tenants 10000] [--events 200000]
                                           [--pdf-shard 0/10] [--seed 2026]

Starts a throwaway PostgreSQL (tests/peers/postgres.py), migrates it, bulk-loads
the month with COPY, then times the monthly run's service in this process
(`billing.monthly.run_monthly`, as `pieced-admin billing run-monthly` calls it)
on copies of the same database:

1. without PDFs, over every org: invoices per second, SQL statements per
   invoice (counted with a `before_cursor_execute` listener), peak memory;
   the same on one shard (a quarter of the orgs) to show statements per
   invoice do not grow with the number of orgs and events;
2. a floor measured here: one `INSERT … SELECT` writing as many invoice and
   line rows as the run did, and the run's ratio to it;
3. with PDFs, on one shard by default (a PDF takes about half a second of CPU,
   so all 2,000+ invoices take minutes on two cores; `--pdf-shard 0/1` does
   them all): invoices per second and CPU utilisation (this process and its
   PDF workers, CPU time / wall time; 200 % = both cores of a 2-core machine).

LiteLLM, SMTP and Stripe are off: the run measures our code and the database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("PIECED_ENV", "testing")

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from pieced_admin import create_app  # noqa: E402
from pieced_admin.billing.days import Period  # noqa: E402
from pieced_admin.extensions import db  # noqa: E402

ZURICH = ZoneInfo("Europe/Zurich")
UTC = timezone.utc
PERIOD = Period(2026, 10)
MONTH_START = datetime(2026, 10, 1, tzinfo=ZURICH).astimezone(UTC)
MONTH_END = datetime(2026, 11, 1, tzinfo=ZURICH).astimezone(UTC)
ISSUE_AT = datetime(2026, 11, 1, 6, tzinfo=ZURICH)
SKILLS = ["searxng-local-search", "web-browser", "document-rag", "calendar-sync", "voice-transcription",
          "mail-digest", "crm-bridge", "beta-canvas"]
SKILL_PRICES = {"searxng-local-search": "0.10", "web-browser": "0.20", "document-rag": "0.35",
                "calendar-sync": "0.05", "voice-transcription": "0.50", "mail-digest": "0.08", "crm-bridge": "0.25"}


# --------------------------------------------------------------------------- data


def app_for(url: str):
    return create_app({
        "SQLALCHEMY_DATABASE_URI": url, "PIECED_ENV": "testing", "TESTING": True, "SECRET_KEY": "bench",
        "INSTANCE_PATH": tempfile.gettempdir(), "LITELLM_URL": "", "SMTP_HOST": "", "STRIPE_API_KEY": "",
        "MAIL_FROM": "billing@pieced.ch",
    })


def instant(rnd: random.Random, lo: datetime, hi: datetime) -> datetime:
    return lo + timedelta(seconds=rnd.randrange(max(1, int((hi - lo).total_seconds()))))


def generate(url: str, orgs: int, tenants: int, events: int, seed: int) -> dict:
    """Bulk-load a month with COPY; returns what was loaded."""
    rnd = random.Random(seed)
    counts = {"orgs": orgs, "tenants": tenants}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE platform_pricing SET tenant_monthly_fee_chf = 49, tenant_setup_fee_chf = 99, "
                    "threema_message_chf = 0.005, llm_usd_to_chf = 0.9, llm_markup_pct = 20, vat_rate_chli = 8.10")
        for skill, price in SKILL_PRICES.items():
            cur.execute("INSERT INTO skill_pricing (skill_id, daily_price_chf) VALUES (%s, %s)", (skill, price))
        cur.execute("UPDATE billing_entities SET code = 'pieced-ch', name = 'PieCed AG', iban = 'CH4431999123000889012', "
                    "street = 'Bahnhofstrasse', building_number = '10', postal_code = '8001', city = 'Zürich', "
                    "vat_number = 'CHE-123.456.788 MWST', email = 'billing@pieced.ch' WHERE is_default")
        cur.execute("INSERT INTO billing_entities (code, name, invoice_prefix, country, currency, iban, street, "
                    "building_number, postal_code, city, vat_number) VALUES ('pieced-services', "
                    "'PieCed Services GmbH', 'PS', 'CH', 'CHF', 'CH9300762011623852957', 'Bundesgasse', '3', '3011', "
                    "'Bern', 'CHE-116.281.710 MWST') RETURNING id")
        services = cur.fetchone()[0]

        org_ids = [f"org-{i:05d}" for i in range(orgs)]
        with cur.copy("COPY org_billing_config (zitadel_org_id, display_name, billing_email, country, street, "
                      "building_number, postal_code, city, language, pay_by_invoice, auto_invoice_enabled, "
                      "auto_reminders_enabled, billing_entity_id) FROM STDIN") as copy:
            for i, org in enumerate(org_ids):
                country = "DE" if i % 20 == 0 else ("LI" if i % 33 == 0 else "CH")
                copy.write_row((org, f"Customer {i} AG", f"billing@{org}.example", country, "Seestrasse",
                                str(1 + i % 90), "8002", "Zürich", "de" if i % 3 == 0 else "en", True, True, True,
                                services if i % 10 == 0 else None))

        # Tenants: 1 to 9 per org (5 on average), a few created or deleted during the month.
        owners = [org_ids[i % orgs] for i in range(tenants)]
        rnd.shuffle(owners)
        tenant_rows = []
        with cur.copy("COPY tenant_billing_lifecycle (tenant_name, zitadel_org_id, created_at, deleted_at, "
                      "billing_entity_id) FROM STDIN") as copy:
            for i, org in enumerate(owners):
                name = f"t-{i:06d}"
                roll = rnd.random()
                created = instant(rnd, MONTH_START, MONTH_END) if roll < 0.05 else \
                    instant(rnd, MONTH_START - timedelta(days=700), MONTH_START)
                deleted = instant(rnd, max(created, MONTH_START), MONTH_END) if rnd.random() < 0.03 else None
                entity = services if rnd.random() < 0.02 else None
                tenant_rows.append((name, created, deleted))
                copy.write_row((name, org, created, deleted, entity))

        # Events: skills enabled at creation and toggled, a few suspensions; Threema usage makes up the rest.
        skill_events = suspension_events = 0
        with cur.copy("COPY tenant_skill_events (tenant_name, skill_id, event_kind, occurred_at, source) "
                      "FROM STDIN") as copy:
            for name, created, deleted in tenant_rows:
                end = deleted or MONTH_END
                for skill in rnd.sample(SKILLS, rnd.randint(1, 4)):
                    copy.write_row((name, skill, "enabled", created, "bench"))
                    skill_events += 1
                    if rnd.random() < 0.3:
                        off = instant(rnd, max(created, MONTH_START), end)
                        copy.write_row((name, skill, "disabled", off, "bench"))
                        skill_events += 1
                        if rnd.random() < 0.5:
                            copy.write_row((name, skill, "enabled", instant(rnd, off, end), "bench"))
                            skill_events += 1
        with cur.copy("COPY tenant_suspension_events (tenant_name, event_kind, occurred_at, source) "
                      "FROM STDIN") as copy:
            for name, created, deleted in tenant_rows:
                if rnd.random() < 0.1:
                    start = instant(rnd, max(created, MONTH_START), deleted or MONTH_END)
                    copy.write_row((name, "suspended", start, "bench"))
                    copy.write_row((name, "resumed", instant(rnd, start, MONTH_END), "bench"))
                    suspension_events += 2
        usage = max(0, events - skill_events - suspension_events)
        with cur.copy("COPY tenant_usage (tenant_name, metric, quantity, occurred_at, external_id) FROM STDIN") as copy:
            for n in range(usage):
                name, created, deleted = tenant_rows[rnd.randrange(len(tenant_rows))]
                at = instant(rnd, max(created, MONTH_START), deleted or MONTH_END)
                copy.write_row((name, "threema_messages", 1, at, f"msg-{n:07d}"))
        conn.commit()
        cur.execute("ANALYZE")
    counts.update(skill_events=skill_events, suspension_events=suspension_events, usage_rows=usage,
                  events=skill_events + suspension_events + usage)
    return counts


# --------------------------------------------------------------------------- measuring


class StatementCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1

    def __enter__(self):
        sa.event.listen(Engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        sa.event.remove(Engine, "before_cursor_execute", self)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def max_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kB on Linux


def timed_run(url: str, **kwargs) -> dict:
    from pieced_admin.billing.monthly import run_monthly

    app = app_for(url)
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # connect before the clock starts
        db.session.commit()
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        with StatementCounter() as counter:
            report = run_monthly(PERIOD, send_mail=False, collect=False, now=ISSUE_AT, started_by="bench", **kwargs)
        wall = time.perf_counter() - wall0
        cpu = cpu_seconds() - cpu0
        invoices, lines = db.session.execute(sa.text(
            "SELECT count(DISTINCT i.id), count(l.id) FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id")).one()
        gaps = db.session.execute(sa.text(
            "SELECT count(*) FROM (SELECT billing_entity_id, count(*) AS n, max(split_part(number, '-', 3)::int) AS top "
            "FROM invoices GROUP BY billing_entity_id) s WHERE n <> top")).scalar_one()
        documents = db.session.execute(sa.text("SELECT count(*) FROM invoice_documents")).scalar_one()
        db.session.remove()
        db.engine.dispose()
    assert not report.failed, [o.line() for o in report.failed][:5]
    assert gaps == 0, "numbering has a gap"
    return {"orgs": len(report.orgs), "invoices": report.invoices_issued, "rows_invoices": invoices,
            "rows_lines": lines, "documents": documents, "seconds": wall, "cpu": cpu,
            "statements": counter.count}


def pdf_speedup(url: str, workers: int, count: int = 24) -> tuple[float, float]:
    """ms per PDF converted one after the other in this process, and through the run's worker pool."""
    import concurrent.futures
    import multiprocessing

    from pieced_admin.billing.pdf import html_to_pdf, invoice_pdf_parts
    from pieced_admin.models import Invoice

    app = app_for(url)
    with app.app_context():
        invoices = db.session.execute(sa.select(Invoice).order_by(Invoice.id).limit(count)).scalars().all()
        parts = [invoice_pdf_parts(inv) for inv in invoices]
        db.session.remove()
        db.engine.dispose()
    htmls, decors = [p[0] for p in parts], [p[1] for p in parts]
    html_to_pdf(htmls[0], decors[0])  # warm up (fonts, templates)
    start = time.perf_counter()
    for html, decor in parts[: count // 3]:
        html_to_pdf(html, decor)
    sequential = (time.perf_counter() - start) / (count // 3)
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(html_to_pdf, htmls[:workers], decors[:workers]))  # start and warm up the workers
        start = time.perf_counter()
        list(pool.map(html_to_pdf, htmls, decors))
        pooled = (time.perf_counter() - start) / len(htmls)
    return 1000 * sequential, 1000 * pooled


def shard_process(url: str, shard: str, workers: int) -> subprocess.Popen:
    """`run_monthly` with PDFs on one shard in a process of its own (see --one-shard)."""
    return subprocess.Popen([sys.executable, __file__, "--one-shard", url, shard, "--pdf-workers", str(workers)],
                            stdout=subprocess.PIPE, text=True)


def shards_together(url_alone: str, url_pair: str, count: int, workers: int) -> tuple[dict, list[dict], float]:
    """Shard 0/count alone, then shards 0/count and 1/count of the same entity at the same time, each in a process."""
    alone = json.loads(shard_process(url_alone, f"0/{count}", workers).communicate()[0].splitlines()[-1])
    start = time.perf_counter()
    procs = [shard_process(url_pair, f"{i}/{count}", workers) for i in range(2)]
    pair = [json.loads(p.communicate()[0].splitlines()[-1]) for p in procs]
    return alone, pair, time.perf_counter() - start


def floor_seconds(url: str) -> tuple[float, int, int]:
    """One INSERT … SELECT writing as many invoice and line rows as the run wrote (rolled back)."""
    with psycopg.connect(url) as conn:
        cur = conn.cursor()
        start = time.perf_counter()
        cur.execute("""
            WITH src AS (SELECT * FROM invoices),
            ins AS (
              INSERT INTO invoices (number, zitadel_org_id, billing_entity_id, period_start, period_end, status,
                                    issued_at, due_date, currency, net_chf, vat_rate, vat_chf, total_chf, vat_note,
                                    payment_terms_days, language, issued_by, customer_snapshot, entity_snapshot)
              SELECT 'F' || number, zitadel_org_id, billing_entity_id, period_start + 3650, period_end + 3650,
                     status, issued_at, due_date, currency, net_chf, vat_rate, vat_chf, total_chf, vat_note,
                     payment_terms_days, language, issued_by, customer_snapshot, entity_snapshot
              FROM src RETURNING id, number)
            INSERT INTO invoice_lines (invoice_id, tenant_name, kind, skill_id, description, quantity,
                                       unit_price_chf, amount_chf, position)
            SELECT ins.id, l.tenant_name, l.kind, l.skill_id, l.description, l.quantity, l.unit_price_chf,
                   l.amount_chf, l.position
            FROM ins JOIN src ON 'F' || src.number = ins.number JOIN invoice_lines l ON l.invoice_id = src.id
        """)
        lines = cur.rowcount
        invoices = cur.execute("SELECT count(*) FROM invoices WHERE number LIKE 'F%'").fetchone()[0]
        elapsed = time.perf_counter() - start
        conn.rollback()
    return elapsed, invoices, lines


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=10000)
    parser.add_argument("--events", type=int, default=200000)
    parser.add_argument("--pdf-shard", default="0/10", help="shard of the orgs for the run with PDFs (0/1: all)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--shards", type=int, default=10, help="two shards of this many run side by side")
    parser.add_argument("--one-shard", nargs=2, metavar=("URL", "I/N"), help=argparse.SUPPRESS)
    parser.add_argument("--pdf-workers", type=int, default=1, help="PDF workers per shard process (side by side)")
    args = parser.parse_args()
    if args.one_shard:
        from pieced_admin.billing.monthly import Shard

        url, label = args.one_shard
        result = timed_run(url, render_pdfs=True, shard=Shard.parse(label), pdf_workers=args.pdf_workers)
        print(json.dumps(result))
        return

    from pieced_admin.billing.monthly import Shard
    from tests.peers.postgres import start_postgres

    cores = len(os.sched_getaffinity(0))
    print(f"machine: {cores} core(s), load average {os.getloadavg()[0]:.1f}; PostgreSQL starting…", flush=True)
    server = start_postgres()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_template")
        template = server.url_for("bench_template")
        app = app_for(template)
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            db.engine.dispose()
        t0 = time.perf_counter()
        loaded = generate(template, args.orgs, args.tenants, args.events, args.seed)
        print(f"data:   {loaded['orgs']} orgs, {loaded['tenants']} tenants, {loaded['events']} events "
              f"({loaded['skill_events']} skill, {loaded['suspension_events']} suspension, "
              f"{loaded['usage_rows']} Threema usage rows) for {PERIOD.key}, loaded with COPY in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        with psycopg.connect(server.url, autocommit=True) as conn:
            for name in ("run_full", "run_shard", "run_pdf"):
                conn.execute(f"CREATE DATABASE {name} TEMPLATE bench_template")
        rss_before = max_rss_mb()

        full = timed_run(server.url_for("run_full"), render_pdfs=False)
        rss_full = max_rss_mb()
        print(f"\nrun without PDFs, all orgs: {full['invoices']} invoices ({full['rows_lines']} lines) for "
              f"{full['orgs']} orgs in {full['seconds']:.2f} s = {full['invoices'] / full['seconds']:.0f} invoices/s")
        print(f"        {full['statements']} SQL statements = {full['statements'] / full['invoices']:.3f} per invoice; "
              f"{1000 * full['cpu'] / full['invoices']:.1f} ms CPU per invoice in this process; "
              f"peak RSS {rss_full:.0f} MB (before the run {rss_before:.0f} MB)")
        quarter = timed_run(server.url_for("run_shard"), render_pdfs=False, shard=Shard(0, 4))
        print(f"run without PDFs, shard 0/4: {quarter['invoices']} invoices for {quarter['orgs']} orgs in "
              f"{quarter['seconds']:.2f} s; {quarter['statements']} statements = "
              f"{quarter['statements'] / quarter['invoices']:.3f} per invoice (constant: batches, not rows)")

        floor, f_invoices, f_lines = floor_seconds(server.url_for("run_full"))
        print(f"floor:  one INSERT … SELECT of {f_invoices} invoices and {f_lines} lines: {floor:.2f} s; "
              f"the run takes {full['seconds'] / floor:.1f}× the floor")

        shard = Shard.parse(args.pdf_shard)
        pdf = timed_run(server.url_for("run_pdf"), render_pdfs=True, shard=None if shard.count == 1 else shard)
        print(f"\nrun with PDFs, shard {shard.label}: {pdf['invoices']} invoices and {pdf['documents']} PDFs for "
              f"{pdf['orgs']} orgs in {pdf['seconds']:.1f} s = {pdf['invoices'] / pdf['seconds']:.2f} invoices/s "
              f"({pdf['seconds'] / max(pdf['invoices'], 1) * 1000:.0f} ms each)")
        print(f"        CPU utilisation {100 * pdf['cpu'] / pdf['seconds']:.0f} % of one core "
              f"({cores} core(s): {100 * cores} % is all of them; load average {os.getloadavg()[0]:.1f}); "
              f"{1000 * pdf['cpu'] / max(pdf['invoices'], 1):.0f} ms CPU per invoice; {pdf['statements']} statements = "
              f"{pdf['statements'] / max(pdf['invoices'], 1):.3f} per invoice; largest PDF worker RSS "
              f"{max_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB")
        seq, pooled = pdf_speedup(server.url_for("run_pdf"), cores)
        print(f"PDF conversion alone: {seq:.0f} ms per PDF in one process, {pooled:.0f} ms per PDF over {cores} "
              f"worker processes = {seq / pooled:.2f}× ({cores} cores: at most {cores}×)")
        with psycopg.connect(server.url, autocommit=True) as conn:
            for name in ("run_alone", "run_pair"):
                conn.execute(f"CREATE DATABASE {name} TEMPLATE bench_template")
        alone, pair, wall = shards_together(server.url_for("run_alone"), server.url_for("run_pair"), args.shards,
                                            args.pdf_workers)
        one_rate = alone["invoices"] / alone["seconds"]
        pair_rate = sum(p["invoices"] for p in pair) / wall
        print(f"\nshards of one entity side by side, with PDFs ({args.pdf_workers} PDF worker each): shard "
              f"0/{args.shards} alone {alone['invoices']} invoices in {alone['seconds']:.1f} s = {one_rate:.2f}/s; "
              f"shards 0 and 1 together {sum(p['invoices'] for p in pair)} invoices in {wall:.1f} s = "
              f"{pair_rate:.2f}/s = {pair_rate / one_rate:.2f}× one shard")
        print(f"\nload average now {os.getloadavg()[0]:.1f} (figures are lower when other work shares the machine)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
