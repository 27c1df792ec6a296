"""The `pieced-admin` console script: the app's Flask CLI plus the command groups of SPEC §5.

The groups live in `pieced_admin/commands/` (one module per area). Errors
follow one rule: bad input or an unknown org/number is one line on stderr and
exit 2 with nothing written; an outside system failing is exit 1 and names it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

COMMAND_MODULES = ("billing", "monthly", "pricing", "tenants", "reminders", "stripe", "demo", "bank", "reports")


class CliError(click.ClickException):
    """Bad input, or an unknown org or invoice number: exit 2, nothing written."""

    exit_code = 2


class OutsideSystemError(click.ClickException):
    """An outside system (LiteLLM, Stripe, Kubernetes, SMTP) failed: exit 1."""

    exit_code = 1


@contextlib.contextmanager
def cli_errors(*, bad_input: tuple[type[BaseException], ...] = (),
               outside: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Roll back and turn a service's exception into the CLI's two kinds of error.

    `bad_input` exceptions become exit 2 (one line, nothing written), `outside`
    ones exit 1; their messages already name what failed.
    """
    from .extensions import db

    try:
        yield
    except click.ClickException:
        db.session.rollback()
        raise
    except bad_input as exc:
        db.session.rollback()
        raise CliError(str(exc)) from None
    except outside as exc:
        db.session.rollback()
        raise OutsideSystemError(str(exc)) from None


def echo_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def register_commands(app: Flask) -> None:
    """Add every command group to the app's CLI."""
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"pieced_admin.commands.{name}")
        for command in getattr(module, "COMMANDS", ()):
            if command.name not in app.cli.commands:
                app.cli.add_command(command)


def _create_app():
    from . import create_app

    # No command of the CLI serves web pages (`dev` builds its own app), so the
    # web settings are not asked for: DATABASE_URL is enough.
    return create_app(web=False)


def build_cli() -> click.Group:
    from flask.cli import routes_command, shell_command

    from . import __version__
    from .commands.dev import dev

    group = FlaskGroup(
        name="pieced-admin",
        create_app=_create_app,
        # Flask's own `run` would serve pages without the web settings' checks:
        # `pieced-admin dev` and gunicorn (wsgi.py) are the two ways to serve.
        add_default_commands=False,
        add_version_option=False,
        help="PieCed billing back office. Every command honours DATABASE_URL "
        "(default: an SQLite file under instance/).",
    )
    group.add_command(shell_command)
    group.add_command(routes_command)
    group.add_command(dev)
    click.version_option(__version__, "--version", prog_name="pieced-admin",
                         message="%(prog)s %(version)s")(group)
    return group


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with one-line errors (exit 2 for bad input, 1 for outside failures)."""
    from .config import ConfigError

    cli = build_cli()
    try:
        rv = cli.main(args=argv, prog_name="pieced-admin", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(0)
    except click.UsageError as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)
