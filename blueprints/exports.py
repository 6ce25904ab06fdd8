"""The account's exports: states, downloads by emailed link, and Send again."""
import dataclasses
import os
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from access.visibility import can_see, visible_agents
from export_queue import emails, intake, links, wording
from export_queue.states import IN_FLIGHT
from blueprints.export_requests import queue_export
from blueprints.guards import login_required
from models import Agent, ExportRequest, utcnow
from privacy import audit
from reporting import kinds
from reporting.kinds import transcripts
from reporting.localtime import format_date

bp = Blueprint("exports", __name__)

RECENT_REQUESTS = 50


@bp.route("/exports")
@login_required
def index():
    requests = list(
        ExportRequest.select()
        .where(ExportRequest.account == g.account)
        .order_by(ExportRequest.id.desc())
        .limit(RECENT_REQUESTS)
    )
    live = any(item.state in IN_FLIGHT for r in requests for item in r.items)
    return render_template(
        "exports/index.html",
        requests=requests,
        live=live,
        position=intake.queue_position,
        downloadable=links.is_downloadable,
        token=links.download_token,
        visible={agent.id for agent in visible_agents(g.account)},
        kinds=kinds.KINDS,
        problem=wording.problem,
        selection=emails.selection,
        has_workbook=links.has_workbook,
        day=format_date,
    )


def what_is_sent(kind):
    """'The Stop slots report', or 'The transcripts', in the page's language."""
    return _("The transcripts") if kind == transcripts.KEY else _("The %(report)s report", report=kinds.KINDS[kind].LABEL)


FORMATS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def is_canonical_request():
    """Whether the path came as the server spells it, not percent-encoded
    (`/exports/%64ownload/...`): only the link the email gave is answered."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    return raw is None or urlsplit(raw).path.endswith(request.path)


# merge_slashes=False: `/exports//download/<token>` is a 404, not a redirect that repeats the token
@bp.route("/exports/download/<token>", defaults={"extension": "csv"}, merge_slashes=False)
@bp.route("/exports/download/<token>/<any(xlsx):extension>", merge_slashes=False)
def download(token, extension):
    """The links from the email: the CSV (or the workbook) while valid, 410 with `Request again` after."""
    if not is_canonical_request():
        abort(404)
    item = links.item_for_token(token)
    if item is None:
        abort(404)
    if g.account is None:
        return redirect(url_for("auth.login", next=request.path))
    if item.request.account_id != g.account.id:
        return render_template("exports/someone_elses.html", item=item, token=token, what=what_is_sent(item.request.kind),
                               may_see=can_see(g.account, item.agent_id), day=format_date), 403
    if not can_see(g.account, item.agent_id):
        abort(403, _("You no longer have access to this agent, so its reports cannot be downloaded. Ask an admin."))
    path = links.report_path(item, extension)
    if not links.is_downloadable(item) or not os.path.exists(path):
        return render_template("exports/expired.html", item=item, what=what_is_sent(item.request.kind), now=utcnow(),
                               day=format_date), 410
    return send_file(path, mimetype=FORMATS[extension], as_attachment=True, download_name=os.path.basename(path))


@bp.route("/exports/download/<token>/for-me", methods=("POST",), merge_slashes=False)
@login_required
def get_own(token):
    """A colleague's forwarded link, asked for again by this account: the same report,
    filters and agent, queued for this account if it may see the agent."""
    item = links.item_for_token(token)
    if item is None or not can_see(g.account, item.agent_id):
        abort(404)
    if item.request.kind == transcripts.KEY:
        audit.record_export({item.agent_id}, filters=audit.OWN_COPY.english(id=item.request_id))
    filters = dataclasses.replace(intake.filters_of(item.request), agent_ids=(item.agent_id,))
    queue_export(filters, item.request.kind, intake.selector_of(item.request))
    return redirect(url_for("exports.index"))


@bp.route("/exports/<int:request_id>/again", methods=("POST",))
@login_required
def send_again(request_id):
    """Queue a new request with the same filters, for one agent of it or all of them."""
    original = ExportRequest.get_or_none((ExportRequest.id == request_id) & (ExportRequest.account == g.account))
    if original is None:
        abort(404)
    filters = intake.filters_of(original)
    agent_ids = set(filters.agent_ids)
    if request.form.get("agent"):
        agent_ids &= {request.form.get("agent", type=int)}
    visible = {a.id for a in visible_agents(g.account).where(Agent.id.in_(list(agent_ids)))}
    if not visible:
        abort(404)
    if original.kind == transcripts.KEY:
        audit.record_export(visible, filters=audit.SEND_AGAIN.english(id=original.id))
    queue_export(dataclasses.replace(filters, agent_ids=tuple(sorted(visible))), original.kind, intake.selector_of(original))
    return redirect(url_for("exports.index"))
