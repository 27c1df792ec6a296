"""`pieced-admin dev`: the embedded default, with a local login provider and demo data."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading

import click

from .. import clock

DEV_CLIENT_ID = "pieced-admin-dev"
DEV_CLIENT_SECRET = "pieced-admin-dev-secret"


def dev_users(roles_claim: str = "urn:zitadel:iam:org:project:roles",
              admin_role: str = "platform-admin", finance_role: str = "finance") -> list[dict]:
    """The three users of the local provider, with Zitadel's roles claim (an object keyed by role)."""
    return [
        {"sub": "admin", "email": "admin@pieced.local", "name": "Ada Admin",
         roles_claim: {admin_role: {"pieced": "pieced.local"}}},
        {"sub": "finance", "email": "finance@pieced.local", "name": "Finn Finance",
         roles_claim: {finance_role: {"pieced": "pieced.local"}}},
        {"sub": "nobody", "email": "nobody@pieced.local", "name": "Nora Nobody"},
    ]


def start_oidc_provider(host: str, port: int, users: list[dict]):
    """Start oidc-provider-mock on host:port in a thread; returns the server (call .shutdown())."""
    from oidc_provider_mock import User, app as provider_app
    from werkzeug.serving import make_server

    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    claims = [User(sub=u["sub"], claims={k: v for k, v in u.items() if k != "sub"}) for u in users]
    server = make_server(host, port, provider_app(user_claims=claims), threaded=True)
    threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True).start()
    return server


class _MailFolder:
    """aiosmtpd handler that keeps every accepted message as an .eml file (nothing leaves the laptop)."""

    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook

        self.count += 1
        stamp = clock.now().strftime("%Y%m%d-%H%M%S")
        (self.folder / f"{stamp}-{self.count:04d}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 Message kept in the local mail folder"


def start_mail_folder(host: str, folder) -> tuple[object, int]:
    """A local SMTP server writing mails to `folder`; returns (controller, port)."""
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd chats about every connection
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port(host)
    controller = Controller(_MailFolder(folder), hostname=host, port=port)
    controller.start()
    return controller, port


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _loopback(host: str) -> bool:
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def dev_refusal(database_url: str, host: str) -> str | None:
    """Why `pieced-admin dev` should not run with these settings, or None."""
    if not database_url.startswith("sqlite:"):
        scheme = database_url.split(":", 1)[0].split("+", 1)[0]
        return f"pieced-admin dev runs only on SQLite, but DATABASE_URL names a {scheme} database"
    if not _loopback(host):
        return f"pieced-admin dev listens only on a loopback address, not --host {host}"
    return None


@click.command("dev")
@click.option("--port", default=5000, show_default=True, type=int, help="Port of the app.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--oidc-port", type=int, default=None,
              help="Port of the local login provider (default: the app's port + 1, or a free one).")
@click.option("--no-demo", is_flag=True, help="Do not load demo data into an empty database.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Run as if it were this day (YYYY-MM-DD): the demo data and every page follow it.")
@click.option("--i-know", "i_know", is_flag=True,
              help="Run even on a non-SQLite database or a non-loopback --host (anyone who reaches it can sign "
                   "in as admin through the local provider).")
def dev(port: int, host: str, oidc_port: int | None, no_demo: bool, i_know: bool, today=None) -> None:
    """Run the app on the embedded default: SQLite, demo data and a local login provider."""
    from ..cli import CliError
    from ..config import load_config

    # The local provider signs anyone in as admin: keep it to a laptop's own database and interface.
    refusal = dev_refusal(load_config()["SQLALCHEMY_DATABASE_URI"], host)
    if refusal and not i_know:
        raise CliError(f"{refusal}; anyone could sign in as admin through the local login provider. "
                       f"Add --i-know if that is really what you want.")

    try:
        import oidc_provider_mock  # noqa: F401
    except ImportError:
        raise CliError("pieced-admin dev needs the development extras: pip install -e '.[dev]'") from None

    os.environ["PIECED_ENV"] = "development"
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    if not _port_free(host, port):
        raise CliError(f"port {port} on {host} is in use; pick another with --port")
    if oidc_port is None:
        oidc_port = port + 1 if _port_free(host, port + 1) else _free_port(host)
    elif not _port_free(host, oidc_port):
        raise CliError(f"port {oidc_port} on {host} is in use; pick another with --oidc-port")

    if today is not None:
        # The app's one clock starts at that day's noon and runs on from there.
        clock.set_now(today.date(), ticking=True)

    from flask_migrate import upgrade
    from werkzeug.serving import run_simple

    from .. import create_app
    from ..demo import database_is_empty, load_demo

    settings = load_config()
    users = dev_users(settings["OIDC_ROLES_CLAIM"], settings["ADMIN_ROLE"], settings["FINANCE_ROLE"])
    provider = start_oidc_provider(host, oidc_port, users)
    issuer = f"http://{host}:{oidc_port}"
    overrides = {
        "PIECED_ENV": "development",
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": DEV_CLIENT_ID,
        "OIDC_CLIENT_SECRET": DEV_CLIENT_SECRET,
    }
    mail_note = f"SMTP server {settings['SMTP_HOST']}:{settings['SMTP_PORT']}"
    mail_server = None
    if not settings["SMTP_HOST"]:
        # Invoices and reminders are "sent" into a folder, so every flow works without a mail server.
        from pathlib import Path

        mail_dir = Path(settings["INSTANCE_PATH"]) / "mail"
        mail_server, smtp_port = start_mail_folder(host, mail_dir)
        overrides.update(SMTP_HOST=host, SMTP_PORT=smtp_port, MAIL_FROM=settings["MAIL_FROM"] or "billing@pieced.local")
        mail_note = f"e-mails are kept as .eml files in {mail_dir}"
    app = create_app(overrides)
    with app.app_context():
        upgrade()
        if not no_demo and database_is_empty():
            summary = load_demo()
            click.echo(f"Loaded demo data: {summary}")

    url = f"http://{host}:{port}"
    click.echo("")
    click.echo(f"  pieced-admin is running at {url}")
    click.echo(f"  Database: {app.config['SQLALCHEMY_DATABASE_URI']}")
    click.echo(f"  Local login provider: {issuer} — sign in as one of:")
    click.echo("    admin    platform admin (everything)")
    click.echo("    finance  finance (invoices, payments, reminders)")
    click.echo("    nobody   signed in without a role")
    click.echo(f"  Mail: {mail_note}")
    click.echo(f"  Today: {clock.today(app.config['BILLING_TIMEZONE']):%d.%m.%Y}"
               + (" (set with --today)" if today is not None else ""))
    click.echo("  Stop with Ctrl+C.")
    click.echo("")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        provider.shutdown()
        if mail_server is not None:
            mail_server.stop()
