"""Asking for an export from a page (Analytics' EXPORT buttons, Exports' Send again):
record the request, queue it, and say what happened."""
from flask import current_app, flash, g, url_for
from markupsafe import Markup

from export_queue import delivery, intake
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
        emails = len(filters.agent_ids)
        flash(
            Markup('{} will be sent to {}, one email per agent ({} {}). '
                   'Follow it, or download it once built, on <a href="{}">Exports</a>.').format(
                what_is_sent(kind), account.email, emails, "email" if emails == 1 else "emails",
                url_for("exports.index"),
            ),
            "success",
        )
    elif outcome.status == "duplicate":
        flash(
            f"The same export (request #{outcome.request.id}) is already on its way to {account.email}; "
            "it was not queued again.",
            "info",
        )
    elif outcome.status == "quota":
        flash(
            f"You have asked for {config['EXPORT_MAX_PER_HOUR']} exports in the last hour, the most allowed. "
            f"You can ask again from {format_local(outcome.retry_at, config['TIMEZONE'])}.",
            "error",
        )
    else:
        flash(
            f"You already have {config['EXPORT_MAX_PENDING']} exports waiting. "
            "Wait until one of them is sent, then try again.",
            "error",
        )


def what_is_sent(kind):
    """'The Stop slots report', or 'The transcripts'."""
    return "The transcripts" if kind == transcripts.KEY else f"The {kinds.KINDS[kind].LABEL} report"
