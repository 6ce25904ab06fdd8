"""The dialogs behind a number: `/dialogs` lists the dialogs a preview number counts,
with the Analytics filters and at most one selector in its URL; `/dialogs/<id>` shows
one of them, its events in path order; `Export transcripts` emails the list's."""
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import format_date, lazy_gettext as _l

from access.visibility import can_see, visible_agents
from blueprints.export_requests import queue_export
from blueprints.filter_form import FILTER_FIELDS, PeriodFilterForm, filter_form, filters_from, link_filters, query_args
from blueprints.guards import login_required
from models import Agent, Dialog
from privacy import audit
from reporting import dialog_lists, transcripts
from reporting.kinds import transcripts as transcripts_kind

bp = Blueprint("dialogs", __name__)

SELECTOR_FIELDS = ("stop_slot", "reached", "from_slot", "to_slot")
OUTCOME_WORDS = {  # outcomes.rules.OUTCOMES as the page's language says them
    "completed": _l("Completed"),
    "escalated": _l("Escalated"),
    "failed": _l("Failed"),
    "abandoned": _l("Abandoned"),
    "in-progress": _l("In progress"),
}
DAY = "d MMMM y"  # '10 March 2026', '10 марта 2026'


def requested_filters(args):
    """The filters of the URL (or a form's `args`); a 404 for an agent the account may not
    see (as for one that does not exist, so nothing about it leaks), a 400 for filters in error."""
    visible = {agent.id for agent in visible_agents(g.account)}
    if any(not value.isdigit() or int(value) not in visible for value in args.getlist("agents")):
        abort(404)
    formdata = link_filters(args)
    form = filter_form(PeriodFilterForm, formdata)
    if formdata is not None and not form.validate():
        abort(400, " ".join(error for errors in form.errors.values() for error in errors))
    return filters_from(form)


def period_words(filters):
    """The period as the page's language says it: '10 March 2026', '1–7 March 2026'."""
    start, end = filters.date_from, filters.date_to
    if start == end:
        return format_date(end, DAY)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{format_date(end, DAY)}"
    return f"{format_date(start, DAY)} – {format_date(end, DAY)}"


@bp.route("/dialogs")
@login_required
def index():
    filters = requested_filters(request.args)
    try:
        selector = dialog_lists.parse_selector(request.args)
        older = dialog_lists.parse_keyset(request.args["older"]) if "older" in request.args else None
        newer = dialog_lists.parse_keyset(request.args["newer"]) if "newer" in request.args else None
        page = dialog_lists.dialog_page(filters, current_app.config["TIMEZONE"], selector, newer_than=newer, older_than=older)
    except dialog_lists.SelectorError as error:
        abort(400, str(error))
    link = dict(query_args(filters), **{name: request.args[name] for name in SELECTOR_FIELDS if name in request.args})
    agents = Agent.select(Agent.name).where(Agent.id.in_(list(filters.agent_ids))).order_by(Agent.name)
    return render_template(
        "dialogs/list.html",
        page=page,
        heading=dialog_lists.in_words(selector, dialog_lists.slot_namer(filters.agent_ids)),
        scope=f"{', '.join(agent.name for agent in agents)}, {period_words(filters)}",
        newer_url=url_for("dialogs.index", **link, newer=dialog_lists.keyset_text(page.newer)) if page.newer else None,
        older_url=url_for("dialogs.index", **link, older=dialog_lists.keyset_text(page.older)) if page.older else None,
        analytics_url=url_for("analytics.index", **query_args(filters)),
        channels=filters.channels,
        outcomes=[OUTCOME_WORDS[key] for key in filters.outcomes],
        link=link,
    )


@bp.route("/dialogs/export", methods=("POST",))
@login_required
def export():
    """Export transcripts: queue kind `transcripts` for the list in the form, back to the list."""
    filters = requested_filters(request.form)
    try:
        selector = dialog_lists.parse_selector(request.form)
        dialog_lists.source(filters, current_app.config["TIMEZONE"], selector)  # an unknown slot key is said now
    except dialog_lists.SelectorError as error:
        abort(400, str(error))
    link = dict(query_args(filters), **{name: request.form[name] for name in SELECTOR_FIELDS if name in request.form})
    audit.record_export(filters.agent_ids, filters=urlencode(link, doseq=True))
    queue_export(filters, transcripts_kind.KEY, selector)
    return redirect(url_for("dialogs.index", **link))


@bp.route("/dialogs/<int:dialog_id>")
@login_required
def transcript(dialog_id):
    """One dialog's events; with the list's filters in the URL, `Previous` and `Next` walk that list."""
    dialog = Dialog.get_or_none(Dialog.id == dialog_id)
    if dialog is None or not can_see(g.account, dialog.agent_id):
        abort(404)
    try:
        selector = dialog_lists.parse_selector(request.args)
    except dialog_lists.SelectorError as error:
        abort(400, str(error))
    link, previous_url, next_url = {}, None, None
    if any(name in request.args for name in FILTER_FIELDS):
        filters = requested_filters(request.args)
        link = dict(query_args(filters), **{name: request.args[name] for name in SELECTOR_FIELDS if name in request.args})
        try:
            newer, older = dialog_lists.neighbours(filters, current_app.config["TIMEZONE"], selector, (dialog.started_at, dialog.id))
        except dialog_lists.SelectorError as error:
            abort(400, str(error))
        previous_url = url_for("dialogs.transcript", dialog_id=newer, _anchor="here", **link) if newer else None
        next_url = url_for("dialogs.transcript", dialog_id=older, _anchor="here", **link) if older else None
    found = transcripts.lines(dialog.id)
    agent = Agent.get_by_id(dialog.agent_id)
    audit.record(audit.TRANSCRIPT, agent, dialog=dialog.id)
    return render_template(
        "dialogs/transcript.html",
        dialog=dialog,
        agent=agent,
        lines=found,
        marked=transcripts.highlighted(found, selector),
        previous_url=previous_url,
        next_url=next_url,
        list_url=url_for("dialogs.index", **link),
    )
