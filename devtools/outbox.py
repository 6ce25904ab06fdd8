"""The Outbox page: emails caught by the local mail catcher of `make run`.

Registered only when MAIL_CATCHER_DIR is set, so production never loads it.
"""
from flask import Blueprint, current_app, g, render_template

from blueprints.guards import login_required
from devtools import mailcatcher

bp = Blueprint("outbox", __name__)


@bp.route("/outbox")
@login_required
def index():
    """Every caught email for admins; an account's own for everyone else."""
    messages = mailcatcher.read_messages(current_app.config["MAIL_CATCHER_DIR"])
    if not g.account.is_admin:
        messages = [m for m in messages if g.account.email in m.recipients]
    return render_template("exports/outbox.html", messages=messages)
