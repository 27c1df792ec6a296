"""WSGI entry point: `gunicorn wsgi:app`."""

import sys

from pieced_admin import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:  # one clear line instead of a traceback
    print(f"pieced-admin: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
