"""pieced-admin: the billing back office of PieCed."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from flask import Flask

from .config import (
    PROJECT_ROOT,
    ConfigError,
    check_required,
    development_secret_key,
    load_config,
)
from .extensions import csrf, db, login_manager, migrate

__all__ = ["create_app", "ConfigError", "__version__"]


def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pieced-admin")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _own_version()


def create_app(config: dict | None = None, *, web: bool = True) -> Flask:
    """Build the app: settings from the environment (overridden by `config`), extensions, blueprints, CLI.

    ``web=False`` builds it for the command line: commands that serve no page
    need only ``DATABASE_URL`` (and the outside systems they talk to), not the
    web settings (``SECRET_KEY``, OIDC) that serving pages requires.
    """
    settings = load_config()
    if config:
        settings.update(config)
    instance = Path(settings["INSTANCE_PATH"])

    app = Flask(
        __name__,
        instance_path=str(instance),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(settings)
    app.config["PIECED_WEB"] = web
    if not app.config.get("SECRET_KEY"):
        if app.config["PIECED_ENV"] == "production" and web:
            check_required(app.config)
        # Without web pages nothing is signed with it; the CLI never writes a key file then.
        app.config["SECRET_KEY"] = development_secret_key(instance) if web else secrets.token_hex(32)
    if web:
        check_required(app.config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        instance.mkdir(parents=True, exist_ok=True)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from . import models  # noqa: F401  (registers the tables)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)

    from .models.guards import install_guards
    from .models.sqlite import install_sqlite_pragmas

    install_guards()
    install_sqlite_pragmas()

    from .auth import access, oidc

    oidc.register_client(app)
    # Access is checked before CSRF, so an anonymous or unauthorised POST is
    # answered as such rather than as a missing token.
    access.init_app(app)
    csrf.init_app(app)

    from .web import errors, filters, htmx, security, shell

    security.init_app(app)
    filters.init_app(app)
    errors.init_app(app)
    htmx.init_app(app)
    shell.init_app(app)

    from .api import routes as api
    from .auth import routes as auth
    from .credit_notes import routes as credit_notes
    from .dashboard import routes as dashboard
    from .entities import routes as entities
    from .invoices import routes as invoices
    from .orgs import routes as orgs
    from .payments import bank_routes as bank
    from .payments import routes as payments
    from .pricing import routes as pricing
    from .reminders import routes as reminders
    from .reports import routes as reports
    from .runs import routes as runs
    from .tenants import routes as tenants

    for module in (auth, api, dashboard, pricing, orgs, entities, invoices, credit_notes, tenants, runs, payments,
                   bank, reminders, reports):
        app.register_blueprint(module.bp)

    from .cli import register_commands

    register_commands(app)
    return app

