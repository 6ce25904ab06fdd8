"""Asking for an export from a page (Analytics' EXPORT buttons, Exports' Send again):
record the request, queue it, and say what happened."""
from flask import current_app, flash, g, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from export_queue import delivery, intake
from languages.formats import ngettext
from reporting import dialog_lists, kinds
from reporting.kinds import transcripts
from reporting.localtime import format_local


def queue_export(filters, kind, selector=dialog_lists.Selector()):
    """Record an export request and queue it, then say what happened (used by Send again
    and the dialog lists' Export transcripts too)."""
    account = g.account
    config = current_app.config
    outcome = intake.request_export(
        account, filters, config["EXPORT_MAX_PENDING"], config["EXPORT_MAX_PER_HOUR"], kind=kind, selector=selector
    )
    if outcome.status == "queued":
        delivery.enqueue(outcome.request.items)
        flash(on_its_way(kind, account.email, len(filters.agent_ids), url_for("exports.index")), "success")
    elif outcome.status == "duplicate":
        flash(
            _("The same export (request #%(id)s) is already on its way to %(email)s; it was not queued again.",
              id=outcome.request.id, email=account.email),
            "info",
        )
    elif outcome.status == "quota":
        flash(
            _("You have asked for %(num)s exports in the last hour, the most allowed. You can ask again from %(time)s.",
              num=config["EXPORT_MAX_PER_HOUR"], time=format_local(outcome.retry_at, config["TIMEZONE"])),
            "error",
        )
    else:
        flash(
            _("You already have %(num)s exports waiting. Wait until one of them is sent, then try again.",
              num=config["EXPORT_MAX_PENDING"]),
            "error",
        )


def on_its_way(kind, email, emails, exports_url):
    """'The Stop slots report will be sent to …, one email per agent (2 emails). Follow
    it, or download it once built, on Exports.' (HTML: Exports is a link)."""
    values = dict(email=escape(email), url=escape(exports_url))
    if kind == transcripts.KEY:
        return Markup(ngettext(
            'The transcripts will be sent to %(email)s, one email per agent (%(num)s email). '
            'Follow it, or download it once built, on <a href="%(url)s">Exports</a>.',
            'The transcripts will be sent to %(email)s, one email per agent (%(num)s emails). '
            'Follow it, or download it once built, on <a href="%(url)s">Exports</a>.', emails, **values))
    return Markup(ngettext(
        'The %(report)s report will be sent to %(email)s, one email per agent (%(num)s email). '
        'Follow it, or download it once built, on <a href="%(url)s">Exports</a>.',
        'The %(report)s report will be sent to %(email)s, one email per agent (%(num)s emails). '
        'Follow it, or download it once built, on <a href="%(url)s">Exports</a>.', emails,
        report=escape(kinds.KINDS[kind].LABEL), **values))


def what_is_sent(kind):
    """'The Stop slots report', or 'The transcripts'."""
    return _("The transcripts") if kind == transcripts.KEY else _("The %(report)s report", report=kinds.KINDS[kind].LABEL)
