"""Benchmark of the busiest pages on a big book: 5,000 orgs and 100,000 invoices in PostgreSQL.

Run: .venv/bin/python bench/pages.py [--orgs N] [--invoices N] [--clients C] [--rounds R]

What it does:
- starts a throwaway PostgreSQL (tests/peers/postgres.py), migrates it, and bulk-loads orgs,
  cards and invoices with COPY (invoices carry no lines: the pages measured show none), and the
  payments ledger (paid invoices' payments, part payments, overpayments, unmatched bank payments);
- serves the app with werkzeug's threaded server, as `pieced-admin dev` does;
- logs a finance user in through the real OIDC flow against the local mock provider
  (`start_oidc_provider` of `pieced-admin dev`): no session is forged;
- sends the pages from C concurrent clients (default 8) and prints p50/p95 of the server time
  (measured inside the server, from the request's arrival to the last byte of its body) and of
  the time the client saw, next to `/healthz` on the same server.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time as dtime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402

from tests.peers.postgres import PostgresUnavailable, start_postgres  # noqa: E402

ZURICH = ZoneInfo("Europe/Zurich")
CENT = Decimal("0.01")

PAGES = [
    ("/", "dashboard"),
    ("/invoices", "invoice list"),
    ("/invoices?status=overdue&sort=due&dir=asc", "invoice list, overdue by due date"),
    ("/invoices?q=org-0042&sort=total&dir=desc", "invoice list, search"),
    ("/invoices?page=1000", "invoice list, page 1000"),
    ("/invoices?status=partly_paid", "invoice list, partly paid"),
    ("/invoices?status=credit", "invoice list, credit"),
    ("/payments/unmatched", "unmatched bank payments"),
    ("/orgs", "org list"),
    ("/healthz", "health check"),
]


# --------------------------------------------------------------------------- data


def months_back(today: date, n: int) -> list[date]:
    """First days of the n months before today's month, oldest first."""
    firsts, year, month = [], today.year, today.month
    for _ in range(n):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        firsts.append(date(year, month, 1))
    return firsts[::-1]


def last_day(first: date) -> date:
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def load(url: str, orgs: int, invoices: int, seed: int = 7) -> dict:
    """Bulk-load entities, orgs, cards and invoices with COPY; returns counts."""
    import psycopg

    rng = random.Random(seed)
    today = datetime.now(ZURICH).date()
    months = max(1, invoices // orgs)
    firsts = months_back(today, months)
    with psycopg.connect(url, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("UPDATE billing_entities SET code='pieced-ch', name='PieCed AG' WHERE is_default")
        cur.execute("INSERT INTO billing_entities (code, name, invoice_prefix, country, currency, is_default) "
                    "VALUES ('pieced-services', 'PieCed Services GmbH', 'PS', 'CH', 'CHF', false)")
        cur.execute("SELECT id, invoice_prefix FROM billing_entities ORDER BY id")
        entities = cur.fetchall()
        cur.execute("UPDATE platform_pricing SET payment_terms_days = 30")

        org_rows = []
        for n in range(orgs):
            card = n % 5 == 0
            org_rows.append((
                f"org-{n:04d}", f"Customer {n:04d} AG", None if n % 50 == 0 else f"billing@org-{n:04d}.example",
                "CH" if n % 10 else "DE", None if n % 70 == 0 else "Bahnhofstrasse", str(n % 200 + 1), "8001",
                "Zürich", not card, True, entities[n % 3 == 0][0],
            ))
        with cur.copy("COPY org_billing_config (zitadel_org_id, display_name, billing_email, country, street, "
                      "building_number, postal_code, city, pay_by_invoice, auto_invoice_enabled, billing_entity_id) "
                      "FROM STDIN") as copy:
            for row in org_rows:
                copy.write_row(row)
        with cur.copy("COPY org_payment_methods (zitadel_org_id, stripe_payment_method_id, brand, last4, exp_month, "
                      "exp_year, is_default) FROM STDIN") as copy:
            for n in range(0, orgs, 5):
                if n % 50 != 0:  # one card org in ten has no card
                    copy.write_row((f"org-{n:04d}", f"pm_{n:06d}", "visa", "4242", 12, today.year + 2, True))

        sequences: dict[tuple[int, int], int] = defaultdict(int)
        count = 0
        with cur.copy("COPY invoices (number, zitadel_org_id, billing_entity_id, period_start, period_end, status, "
                      "issued_at, due_date, currency, net_chf, vat_rate, vat_chf, total_chf, paid_at, "
                      "payment_reference, payment_method, voided_at, void_reason, issued_by, charge_status, "
                      "payment_terms_days) FROM STDIN") as copy:
            for age, first in enumerate(reversed(firsts)):  # newest month first: age 0 = last month
                for n in range(orgs):
                    if count >= invoices:
                        break
                    org_id, entity_id = org_rows[n][0], org_rows[n][10]
                    prefix = dict(entities)[entity_id]
                    nxt = last_day(first) + timedelta(days=1)
                    issued_at = datetime.combine(nxt + timedelta(days=n % 3), dtime(6, n % 60), tzinfo=ZURICH)
                    year = issued_at.year
                    sequences[(entity_id, year)] += 1
                    number = f"{prefix}-{year}-{sequences[(entity_id, year)]:05d}"
                    net = (Decimal(rng.randint(4900, 250000)) / 100).quantize(CENT)
                    rate = Decimal("0.00") if org_rows[n][3] == "DE" else Decimal("8.10")
                    vat = (net * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
                    due = issued_at.date() + timedelta(days=30)
                    roll = rng.random()
                    status, paid_at, ref, method, voided_at, reason = "issued", None, None, None, None, None
                    if roll < 0.01:
                        status, voided_at, reason = "void", issued_at + timedelta(days=2), "wrong address"
                    elif (age >= 2 and roll < 0.97 or age == 1 and roll < 0.6 or age == 0 and roll < 0.15) and (
                            issued_at.date() < today - timedelta(days=1)):
                        paid_day = min(issued_at.date() + timedelta(days=rng.randint(3, 45)), today - timedelta(days=1))
                        status, paid_at = "paid", datetime.combine(paid_day, dtime(12), tzinfo=ZURICH)
                        ref, method = f"BANK {paid_day:%Y%m%d}-{rng.randint(10000, 99999)}", "bank_transfer"
                    charge = None
                    if not org_rows[n][8]:
                        charge = "succeeded" if status == "paid" else ("no_payment_method" if n % 50 == 0 else
                                                                       "failed" if status == "issued" and age > 0
                                                                       else None)
                    copy.write_row((
                        number, org_id, entity_id, first, last_day(first), status, issued_at.astimezone(timezone.utc),
                        due, "CHF", net, rate, vat, net + vat, paid_at, ref, method, voided_at, reason, "monthly-run",
                        charge, 30,
                    ))
                    count += 1
        for (entity_id, year), last in sequences.items():
            cur.execute("INSERT INTO invoice_number_counters (billing_entity_id, year, last_number) "
                        "VALUES (%s, %s, %s)", (entity_id, year, last))
        # The ledger: every paid invoice's payment, a part payment on one open invoice in 20, an
        # overpayment on one paid invoice in 97, and 200 bank payments nobody's.
        cur.execute("""
            INSERT INTO payments (invoice_id, zitadel_org_id, amount_chf, currency, booked_on, method, reference,
                                  source, source_id, created_by)
            SELECT id, zitadel_org_id, total_chf, currency, (paid_at AT TIME ZONE 'Europe/Zurich')::date,
                   'bank_transfer', payment_reference, 'bank_file', 'bench-paid-' || id, 'bench'
            FROM invoices WHERE status = 'paid'
            UNION ALL
            SELECT id, zitadel_org_id, round(total_chf / 2, 2), currency, (issued_at AT TIME ZONE 'Europe/Zurich')::date,
                   'bank_transfer', NULL, 'bank_file', 'bench-part-' || id, 'bench'
            FROM invoices WHERE status = 'issued' AND id % 20 = 0
            UNION ALL
            SELECT id, zitadel_org_id, 10.00, currency, (paid_at AT TIME ZONE 'Europe/Zurich')::date,
                   'bank_transfer', NULL, 'bank_file', 'bench-over-' || id, 'bench'
            FROM invoices WHERE status = 'paid' AND id % 97 = 0
            UNION ALL
            SELECT NULL, NULL, 42.00, 'CHF', CURRENT_DATE - n, 'bank_transfer', 'RF18UNKNOWN' || n, 'bank_file',
                   'bench-unmatched-' || n, 'bench'
            FROM generate_series(1, 200) AS n
        """)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"orgs": orgs, "invoices": count, "months": months}


# --------------------------------------------------------------------------- serving and timing


class ServerTimer:
    """WSGI middleware: the time from a request's arrival to the last byte of its body, per URL."""

    def __init__(self, app):
        self.app = app
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        self.recording = False

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        key = environ.get("PATH_INFO", "") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        body = self.app(environ, start_response)
        try:
            yield from body
        finally:
            if hasattr(body, "close"):
                body.close()
            if self.recording:
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.samples[key].append(elapsed)


def login(base: str, who: str = "finance") -> requests.Session:
    """Sign in through the OIDC flow: app → provider (POST the user) → app callback."""
    s = requests.Session()
    start = s.get(f"{base}/login/start", allow_redirects=False, timeout=30)
    assert start.status_code == 302, start.text[:300]
    chosen = requests.post(start.headers["Location"], data={"sub": who}, allow_redirects=False, timeout=30)
    assert chosen.status_code == 302, chosen.text[:300]
    callback = urlsplit(chosen.headers["Location"])
    done = s.get(f"{base}{callback.path}?{callback.query}", allow_redirects=False, timeout=30)
    assert done.status_code == 302, done.text[:300]
    check = s.get(f"{base}/", timeout=60)
    assert check.status_code == 200 and "Dashboard" in check.text, check.status_code
    return s


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10, help="requests per page and client")
    args = parser.parse_args()

    try:
        pg = start_postgres()
    except PostgresUnavailable as exc:
        print(f"PostgreSQL is needed: {exc}", file=sys.stderr)
        return 1
    server = provider = None
    try:
        import psycopg

        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = pg.url_for("bench")

        from flask_migrate import upgrade
        from werkzeug.serving import make_server

        from pieced_admin import create_app
        from pieced_admin.commands.dev import dev_users, start_oidc_provider

        provider = start_oidc_provider("127.0.0.1", 0, dev_users())
        issuer = f"http://127.0.0.1:{provider.server_port}"
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": url, "PIECED_ENV": "development", "SECRET_KEY": "bench",
            "OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "bench", "OIDC_CLIENT_SECRET": "bench",
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": args.clients + 2, "pool_pre_ping": True},
            "USAGE_INGEST_TOKEN": "bench", "LITELLM_URL": "",
        })
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        with app.app_context():
            upgrade()
        t0 = time.perf_counter()
        loaded = load(url, args.orgs, args.invoices)
        print(f"Loaded {loaded['orgs']:,} orgs and {loaded['invoices']:,} invoices "
              f"({loaded['months']} months) in {time.perf_counter() - t0:.1f} s")

        timer = ServerTimer(app.wsgi_app)
        app.wsgi_app = timer
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        with app.app_context():
            pages = [(u, label) for u, label in PAGES
                     if not u.startswith("/orgs") or "orgs.index" in app.view_functions]
        cookie_session = login(base)
        cookies = cookie_session.cookies.get_dict()

        def client(_n: int) -> dict[str, list[float]]:
            s = requests.Session()
            s.cookies.update(cookies)
            seen: dict[str, list[float]] = defaultdict(list)
            order = pages[:]
            random.Random(_n).shuffle(order)
            for _ in range(args.rounds):
                for page_url, _label in order:
                    started = time.perf_counter()
                    resp = s.get(base + page_url, timeout=120)
                    resp.raise_for_status()
                    seen[page_url].append(time.perf_counter() - started)
            return seen

        for page_url, _label in pages:  # warm-up: templates compiled, connections opened
            cookie_session.get(base + page_url, timeout=120).raise_for_status()
        timer.recording = True
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(client, range(args.clients)))
        wall = time.perf_counter() - started
        timer.recording = False

        client_times: dict[str, list[float]] = defaultdict(list)
        for r in results:
            for k, v in r.items():
                client_times[k].extend(v)
        total = sum(len(v) for v in client_times.values())
        print(f"{args.clients} concurrent clients, {args.rounds} rounds: {total} requests in {wall:.1f} s "
              f"({total / wall:.1f} req/s)")
        print(f"{'page':<48} {'server p50':>10} {'server p95':>10} {'client p50':>10} {'client p95':>10}")
        for page_url, label in pages:
            srv = timer.samples[page_url]
            cli = client_times[page_url]
            print(f"{page_url[:30] + ' (' + label + ')':<48.48} "
                  f"{pct(srv, 50) * 1000:>8.0f}ms {pct(srv, 95) * 1000:>8.0f}ms "
                  f"{pct(cli, 50) * 1000:>8.0f}ms {pct(cli, 95) * 1000:>8.0f}ms")
        single = []
        for _ in range(5):
            started = time.perf_counter()
            cookie_session.get(base + "/", timeout=120).raise_for_status()
            single.append(time.perf_counter() - started)
        print(f"dashboard alone (no concurrency), median of 5: {statistics.median(single) * 1000:.0f} ms")
        started = time.perf_counter()
        export = cookie_session.get(base + "/invoices.csv", timeout=600, stream=True)
        export.raise_for_status()
        first_byte = time.perf_counter() - started
        size = lines = 0
        for chunk in export.iter_content(65536):
            size += len(chunk)
            lines += chunk.count(b"\n")
        print(f"CSV export of every invoice: {lines - 1:,} rows, {size / 1e6:.1f} MB, first byte after "
              f"{first_byte * 1000:.0f} ms, complete after {time.perf_counter() - started:.1f} s")
        return 0
    finally:
        if server is not None:
            server.shutdown()
        if provider is not None:
            provider.shutdown()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
