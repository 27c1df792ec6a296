"""`/runs`: recent billing runs, starting one, and its live progress."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from ..auth.access import roles
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..billing.issuing import local_today
from ..billing.monthly import previous_month
from ..extensions import db
from ..models import BillingRun
from ..web.htmx import render_page_or_partial
from .forms import StartRunForm
from .services import RunRefused, month_has_ended, recent_runs, run_view, start_background_run

bp = Blueprint("runs", __name__, url_prefix="/runs")


def _index(form: StartRunForm, status: int = 200):
    return render_template("runs/index.html", runs=recent_runs(), form=form), status


@bp.get("")
def index():
    """Recent runs and the form to start one."""
    form = StartRunForm(data={"month": previous_month().key})
    return _index(form)


@bp.post("")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def start():
    """Start a run for a month in the background (one at a time per month)."""
    form = StartRunForm()
    if not form.validate():
        return _index(form, 400)
    period = form.month.period
    if not form.dry_run.data and not month_has_ended(period, local_today()):
        form.month.errors.append(f"{period.key} has not ended yet: bill it from the 1st of the next month, "
                                 "or use Dry run first to look at it now.")
        return _index(form, 400)
    try:
        run = start_background_run(period, dry_run=bool(form.dry_run.data), started_by=current_user.label)
    except RunRefused as exc:
        db.session.rollback()
        form.month.errors.append(str(exc))
        return _index(form, 409)
    return redirect(url_for("runs.detail", run_id=run.id), 303)


@bp.get("/<int:run_id>")
def detail(run_id: int):
    """One run: progress while it runs (polled every second), the per-org summary when done."""
    run = db.get_or_404(BillingRun, run_id)
    return render_page_or_partial("runs/detail.html", "runs/_run_progress.html", v=run_view(run))
