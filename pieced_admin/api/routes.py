"""HTTP endpoints for machines: `GET /healthz` (probes) and `POST /api/usage/threema` (bridges)."""

from __future__ import annotations

import logging

import hmac

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request

from ..auth.access import public, token_auth
from ..extensions import csrf, db
from ..usage import ingest_threema_records
from ..web.payloads import json_too_deep

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


MAX_JSON_DEPTH = 8  # a batch is a list of flat objects: depth 2


def _bearer_ok(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    # Bytes, so a token with characters outside ASCII is simply wrong, not a TypeError.
    return hmac.compare_digest(token.strip().encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8", "surrogateescape"))


@bp.post("/api/usage/threema")
@token_auth
@csrf.exempt
def threema_usage():
    """Record Threema messages reported by a tenant's bridge (idempotent by message_id)."""
    if not _bearer_ok(current_app.config.get("USAGE_INGEST_TOKEN", "")):
        return jsonify(error="a valid bearer token (USAGE_INGEST_TOKEN) is required"), 401
    if json_too_deep(request.get_data(cache=True), MAX_JSON_DEPTH):
        return jsonify(error=f"the body nests deeper than {MAX_JSON_DEPTH} levels: send one record or a list of records"), 400
    payload = request.get_json(silent=True)
    if payload is None:
        return jsonify(error="the body must be JSON: one record or a list of records"), 400
    result = ingest_threema_records(payload)
    db.session.commit()
    body = {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": result.rejected}
    if result.late:
        body["late"] = result.late
        log.warning("Threema usage for months already invoiced: %s", result.late[:5])
    if result.errors:
        body["errors"] = result.errors
        return jsonify(body), 400
    return jsonify(body), 200
