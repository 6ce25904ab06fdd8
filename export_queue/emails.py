"""The email that carries one agent's report link."""
import csv
import itertools
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message

from comparison.figures import headline_changes
from export_queue.intake import filters_of, selector_of
from export_queue.links import download_token, has_workbook, report_path
from outcomes.rules import OUTCOMES
from reporting import dialog_lists, files, kinds
from reporting.kinds import transcripts
from reporting.localtime import format_local
from subscriptions import schedules


def external_url(endpoint, **values):
    """An absolute link under BASE_URL, for emails built outside any web request."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def email_subject(item):
    request = item.request
    subject = kinds.KINDS[request.kind].SUBJECT
    return f"{subject}: {item.agent.name}, {request.date_from.isoformat()} \u2013 {request.date_to.isoformat()}"


def selection(item):
    """Which dialogs a transcripts export holds, in words ('dialogs that stopped at Ask
    order number'); None for a report."""
    if item.request.kind != transcripts.KEY:
        return None
    words = dialog_lists.in_words(selector_of(item.request), dialog_lists.slot_namer([item.agent_id]))
    return words[0].lower() + words[1:]


def scheduled_by(request):
    """The subscription that made this request, in words; None for one asked by hand (or
    whose subscription was deleted since)."""
    run = request.subscription_run
    if run is None:
        return None
    return schedules.describe(schedules.schedule_of(run.subscription), current_app.config["TIMEZONE"])


EMAIL_TOP = 5  # rows of the report a scheduled email shows
LEFT_OUT = frozenset({"Slot ID", "Slot type", "Bot text", "From slot ID", "To slot ID"})  # ids and long texts: in the file


def top_rows(path, separator):
    """(header, rows) of the report's first EMAIL_TOP rows, read back from its CSV, so
    that the email's numbers are the file's; without ids and bot texts."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=separator)
        header = next(reader, [])
        rows = list(itertools.islice(reader, EMAIL_TOP))
    keep = [i for i, name in enumerate(header) if name not in LEFT_OUT]
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows]


def report_email(item, expires_at):
    """One email per agent: link, expiry, filters, data time and dialog count; a
    scheduled one also the report's top rows and the change since the period before,
    so that it can be read (and forwarded) without opening the file.

    The Message-ID is the item's own, so that a copy sent again after a crash
    (the one window SPEC allows) is recognised as the same message.
    """
    tz = current_app.config["TIMEZONE"]
    context = dict(
        item=item,
        kind=kinds.KINDS[item.request.kind],
        request=item.request,
        agent=item.agent,
        link=external_url("exports.download", token=download_token(item)),
        xlsx_link=external_url("exports.download", token=download_token(item), extension="xlsx") if has_workbook(item) else None,
        xlsx_max_rows=f"{files.XLSX_MAX_ROWS:,}",
        selection=selection(item),
        expires=format_local(expires_at, tz),
        data_as_of=format_local(item.data_as_of, tz),
        channels=", ".join(item.request.channel_list) or "all channels",
        outcomes=" or ".join(OUTCOMES[key] for key in item.request.outcome_keys),
        timezone=tz,
        subscription=scheduled_by(item.request),
        subscriptions_link=external_url("subscriptions.index"),
        compared=headline_changes(item.agent_id, filters_of(item.request), tz) if item.request.subscription_run else None,
        top=top_rows(report_path(item), item.request.account.csv_separator) if item.request.subscription_run and item.dialogs else None,
    )
    message = Message(
        subject=email_subject(item),
        recipients=[item.request.account.email],
        body=render_template("email/report.txt", **context),
        html=render_template("email/report.html", **context),
    )
    message.msgId = f"<slotlens.item-{item.id}@{urlsplit(current_app.config['BASE_URL']).hostname}>"
    return message
