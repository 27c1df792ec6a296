"""The test bench: the app on SQLite and on a throwaway PostgreSQL, a real OIDC provider,
per-test transaction rollback, factories, and a live server for the browser.

Choose the databases with `--db sqlite,postgresql` (default: both) or
PIECED_TEST_DB. With CI=true a peer that cannot start fails the run; elsewhere
its tests are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
os.environ["PIECED_ENV"] = "testing"

from pieced_admin import clock, create_app  # noqa: E402
from pieced_admin.commands.dev import dev_users, start_oidc_provider  # noqa: E402
from pieced_admin.extensions import db  # noqa: E402

from .peers.postgres import PostgresUnavailable, start_postgres  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"

# The suite's day. No test reads the machine's clock: the app's one clock
# (pieced_admin.clock) starts each session at this instant and ticks on from
# it, and CLI subprocesses get the same day through PIECED_NOW. A test about
# a particular day says so with @pytest.mark.now("YYYY-MM-DD[THH:MM±hh:mm]").
SUITE_NOW = "2026-11-21T10:00:00+01:00"
os.environ["PIECED_NOW"] = SUITE_NOW
os.environ["PIECED_NOW_TICKING"] = "1"
clock.set_now(clock.parse_instant(SUITE_NOW), ticking=True)
TEST_OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
BACKENDS = ("sqlite", "postgresql")


def peer_missing(reason: str):
    """Fail in CI, skip elsewhere: a missing peer must never pass silently in CI."""
    if IN_CI:
        pytest.fail(f"peer missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_addoption(parser):
    parser.addoption(
        "--db", default=os.environ.get("PIECED_TEST_DB", "sqlite,postgresql"),
        help="comma-separated databases to run database tests on (sqlite, postgresql)",
    )


def selected_backends(config) -> list[str]:
    chosen = [b.strip() for b in config.getoption("--db").split(",") if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"unknown --db value(s): {', '.join(sorted(unknown))}")
    return chosen


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        backends = selected_backends(metafunc.config)
        if metafunc.definition.get_closest_marker("postgres"):
            backends = [b for b in backends if b == "postgresql"] or ["postgresql"]
        if metafunc.definition.get_closest_marker("sqlite_only"):
            backends = ["sqlite"]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(autouse=True)
def _pinned_day(request, monkeypatch):
    """A test marked ``now`` runs (and its subprocesses run) on that instant; the clock stands still there."""
    marker = request.node.get_closest_marker("now")
    if marker is None:
        yield
        return
    moment = clock.parse_instant(marker.args[0])
    ticking = bool(marker.kwargs.get("ticking", False))
    monkeypatch.setenv("PIECED_NOW", moment.isoformat())
    monkeypatch.setenv("PIECED_NOW_TICKING", "1" if ticking else "0")
    with clock.pinned(moment, ticking=ticking):
        yield


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: runs on SQLite only")
    TEST_OUTPUT.mkdir(exist_ok=True)


# --------------------------------------------------------------------------- peers


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server for the whole run (or TEST_POSTGRES_URL's)."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        peer_missing(str(exc))
    yield server
    server.stop()


@dataclass
class OIDCProvider:
    issuer: str
    users: list[dict]

    def authorize(self, authorization_url: str, sub: str) -> str:
        """Log `sub` in at the provider's authorization URL; returns the app callback URL."""
        resp = requests.post(authorization_url, data={"sub": sub}, allow_redirects=False, timeout=10)
        assert resp.status_code == 302, resp.text[:500]
        return resp.headers["Location"]


@pytest.fixture(scope="session")
def oidc_provider():
    """A real OIDC provider (oidc-provider-mock) with the users admin, finance and nobody."""
    users = dev_users()
    try:
        server = start_oidc_provider("127.0.0.1", 0, users)
    except Exception as exc:  # pragma: no cover - only when the package is missing
        peer_missing(f"oidc-provider-mock could not start: {exc}")
    yield OIDCProvider(issuer=f"http://127.0.0.1:{server.server_port}", users=users)
    server.shutdown()


# --------------------------------------------------------------------------- databases


class DatabaseFactory:
    """Migrated template databases, and fresh copies of them for tests that commit."""

    def __init__(self, backend: str, tmp: Path, pg_server=None):
        self.backend = backend
        self.tmp = tmp
        self.pg = pg_server
        self.template_url = self._build_template()
        self.shared_url = self.fresh()  # the database of the rollback-per-test fixture

    def _migrate(self, url: str) -> None:
        from flask_migrate import upgrade

        app = create_app(_test_config(url))
        with app.app_context():
            upgrade()
            db.engine.dispose()

    def _build_template(self) -> str:
        if self.backend == "sqlite":
            path = self.tmp / "template.db"
            url = f"sqlite:///{path}"
            self._migrate(url)
            # Fold the WAL into the main file so a plain copy is complete.
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return url
        import psycopg

        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE pieced_template")
        url = self.pg.url_for("pieced_template")
        self._migrate(url)
        return url

    def fresh(self) -> str:
        """A new, migrated, empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            path = self.tmp / f"{name}.db"
            shutil.copyfile(self.tmp / "template.db", path)
            return f"sqlite:///{path}"
        import psycopg

        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE pieced_template")
        return self.pg.url_for(name)

    def drop(self, url: str) -> None:
        if self.backend == "sqlite":
            path = Path(urlsplit(url).path.lstrip("/")) if url.startswith("sqlite:////") else Path(url[len("sqlite:///"):])
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            return
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_factories: dict[str, DatabaseFactory] = {}


@pytest.fixture(scope="session")
def db_factory(backend, request, tmp_path_factory):
    """The database factory of the current backend (built once per run)."""
    if backend not in _factories:
        pg = request.getfixturevalue("pg_server") if backend == "postgresql" else None
        _factories[backend] = DatabaseFactory(backend, tmp_path_factory.mktemp(f"db-{backend}"), pg)
    return _factories[backend]


def _test_config(url: str, **extra) -> dict:
    cfg = {
        "SQLALCHEMY_DATABASE_URI": url,
        "PIECED_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SERVER_NAME": None,
        "INSTANCE_PATH": tempfile.gettempdir(),
        "LITELLM_URL": "",
        "LITELLM_API_KEY": "",
        "USAGE_INGEST_TOKEN": "test-ingest-token",
        "STRIPE_API_KEY": "",
        "STRIPE_WEBHOOK_SECRET": "",
        "BEXIO_TOKEN": "",
        "SMTP_HOST": "",
        "MAIL_FROM": "billing@pieced.test",
    }
    cfg.update(extra)
    return cfg


def make_test_app(url: str, oidc: OIDCProvider | None = None, **extra):
    """An app on database `url`, logged in through `oidc` when given."""
    cfg = _test_config(url, **extra)
    if oidc is not None:
        cfg.update(OIDC_ISSUER=oidc.issuer, OIDC_CLIENT_ID="pieced-admin-test", OIDC_CLIENT_SECRET="test-secret")
    return create_app(cfg)


_apps: dict[str, object] = {}


@pytest.fixture
def app(backend, db_factory, oidc_provider):
    """The app on the current backend; everything a test writes is rolled back afterwards."""
    base = _apps.get(backend)
    if base is None:
        base = _apps[backend] = make_test_app(db_factory.shared_url, oidc_provider)
    saved_config = dict(base.config)
    with base.app_context():
        engine = db.engine
        connection = engine.connect()
        outer = connection.begin()
        engines = db.engines  # the app's {bind key: engine} mapping
        engines_backup = dict(engines)
        engines[None] = connection  # every session of this test uses this connection
        db.session.remove()
        db.session.session_factory.configure(join_transaction_mode="create_savepoint")
        try:
            yield base
        finally:
            db.session.remove()
            engines.clear()
            engines.update(engines_backup)
            if outer.is_active:
                outer.rollback()
            connection.close()
            base.config.clear()
            base.config.update(saved_config)


@pytest.fixture
def session(app):
    """The SQLAlchemy session of the current test (inside its rolled-back transaction)."""
    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class FreshDatabase:
    url: str
    backend: str
    app: object


@pytest.fixture
def fresh_db(backend, db_factory, oidc_provider):
    """A database of its own that commits for real (for concurrency, processes and live servers)."""
    url = db_factory.fresh()
    app = make_test_app(url, oidc_provider)
    try:
        yield FreshDatabase(url=url, backend=backend, app=app)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        db_factory.drop(url)


# --------------------------------------------------------------------------- login


def login_as(client, who: str, oidc: OIDCProvider):
    """Log `who` (admin, finance, nobody) in through the real OIDC provider; returns the final response."""
    start = client.get("/login/start")
    assert start.status_code == 302, start.data[:300]
    callback = oidc.authorize(start.headers["Location"], who)
    parts = urlsplit(callback)
    assert parts.path == "/auth/callback", callback
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 302, done.data[:500]
    return done


@pytest.fixture
def login(client, oidc_provider):
    """`login("admin")` logs the test client in as that user."""

    def _login(who: str = "admin"):
        return login_as(client, who, oidc_provider)

    return _login


@pytest.fixture
def admin_client(client, login):
    login("admin")
    return client


@pytest.fixture
def finance_client(client, login):
    login("finance")
    return client


# --------------------------------------------------------------------------- live server + browser


class LiveServer:
    def __init__(self, app):
        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(fresh_db):
    """The app served over HTTP in a thread, on a database of its own."""
    server = LiveServer(fresh_db.app)
    yield server
    server.stop()


@contextlib.contextmanager
def serve_demo(db_factory, oidc_provider, today: date | None = None):
    """A live server on a database of its own with the demo data loaded (it renders some twenty PDFs,
    so browser modules share one per module)."""
    from pieced_admin.demo import load_demo

    url = db_factory.fresh()
    app = make_test_app(url, oidc_provider)
    # The served app lives on the demo's day, as `pieced-admin dev --today` does.
    pin = clock.pinned(clock.parse_instant(today.isoformat()) if today else clock.now(), ticking=True)
    pin.__enter__()
    with app.app_context():
        load_demo(today=clock.today(app.config["BILLING_TIMEZONE"]))
        db.session.remove()
    server = LiveServer(app)
    try:
        yield server
    finally:
        pin.__exit__(None, None, None)
        server.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        db_factory.drop(url)


@pytest.fixture
def console_errors(page):
    """Script errors and failed requests on our pages (a form sent back with its errors answers 422: not one)."""
    errors: list[str] = []

    def on_console(msg):
        if msg.type == "error" and "status of 422" not in msg.text:
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


@pytest.fixture(scope="session")
def playwright():
    """Playwright's driver (and so Chromium) without libfaketime, when the suite runs under faketime.

    libfaketime preloaded into Chromium stalls its timers (a launch takes 13 s, pages hang); the app
    under test, served from this process, still runs on the faked machine clock, and the pages
    it serves read the app's own clock. Nothing changes when faketime is not in use.
    """
    from playwright.sync_api import sync_playwright

    faked = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")
    under_faketime = "faketime" in os.environ.get("LD_PRELOAD", "")
    saved = {k: os.environ.pop(k) for k in faked if under_faketime and k in os.environ}
    try:
        pw = sync_playwright().start()
    finally:
        os.environ.update(saved)
    yield pw
    pw.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        peer_missing("Chromium not installed (apt-get install -y chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": chromium,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    }


def browser_login(page, live: LiveServer, who: str) -> None:
    """Sign in through the provider's page in the browser, as a person would."""
    page.goto(f"{live.url}/login")
    page.click("#sign-in")
    page.click(f"button[name=sub][value={who}]")
    page.wait_for_url(f"{live.url}/**")


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-output/screenshots for a person to look at."""
    folder = TEST_OUTPUT / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
