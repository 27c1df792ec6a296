"""HTTP endpoints for machines: `GET /healthz` (probes)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify

from ..auth.access import public
from ..extensions import db

bp = Blueprint("api", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@public
def healthz():
    """200 when the database answers, 503 otherwise (for Kubernetes probes)."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure of the database means "not healthy"
        log.warning("health check: database did not answer: %s", exc)
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200
