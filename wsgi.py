"""WSGI entry point: `gunicorn wsgi:app`."""

import sys

from pieced_admin import ConfigError, create_app
from pieced_admin.config import check_serving_settings

try:
    app = create_app()
    check_serving_settings(app.config)
except ConfigError as exc:  # one clear line instead of a traceback
    print(f"pieced-admin: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
