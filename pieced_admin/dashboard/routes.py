"""`/`: the dashboard."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..billing.issuing import local_today
from . import services

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    """Receivables by age, revenue per month and entity, this month's invoices, what needs attention."""
    return render_template("dashboard/index.html", dash=services.dashboard(local_today()))
