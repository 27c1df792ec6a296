"""`/`: the dashboard."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    """The dashboard shell (its figures come from the dashboard service)."""
    return render_template("dashboard/index.html")
