"""The email that carries one agent's report link, in its recipient's language
(`languages.speaking_to`): texts, numbers and dates; the file's name and its column
names stay as SPEC writes them in both languages."""
import csv
import itertools
import re
from decimal import Decimal
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import gettext as _
from markupsafe import Markup

from comparison.figures import headline_changes
from export_queue.intake import filters_of, selector_of
from export_queue.links import download_token, has_workbook, report_path
from extensions import Message
from languages import speaking_to
from languages.formats import number
import outcomes
from reporting import dialog_lists, files, kinds
from reporting.kinds import transcripts
from reporting.localtime import format_date, format_local
from subscriptions import schedules


def kind_texts(kind):
    """(subject, explanation) of a report kind in the language being rendered."""
    return str(kind.SUBJECT), str(kind.EXPLANATION)


def external_url(endpoint, **values):
    """An absolute link under BASE_URL, for emails built outside any web request."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def email_subject(item):
    """E.g. 'Stop slots report: Support Bot, 2026-11-30 – 2026-11-30' ('…30.11.2026' in Russian)."""
    request = item.request
    subject = kind_texts(kinds.KINDS[request.kind])[0]
    return f"{subject}: {item.agent.name}, {format_date(request.date_from)} \u2013 {format_date(request.date_to)}"


def selection(item):
    """Which dialogs a transcripts export holds, in words ('dialogs that stopped at Ask
    order number'); None for a report."""
    if item.request.kind != transcripts.KEY:
        return None
    return dialog_lists.in_a_sentence(selector_of(item.request), [item.agent_id])


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
    return [header[i] for i in keep], [[shown(row[i], header[i]) for i in keep] for row in rows]


NUMBERS = frozenset({"Dialogs", "Share (%)", "Reached", "Times shown", "Stopped", "Exit rate (%)", "Reach (%)",
                     "Transitions", "Share of from (%)"})  # the report columns that hold numbers (names are texts, even "2024")
NUMBER = re.compile(r"(-?\d+)(?:[.,](\d+))?")


def shown(cell, column):
    """A cell of the file as the email shows it: a number as the language writes it
    ('1,234.5', '1 234,5'), anything else as it is."""
    found = NUMBER.fullmatch(cell) if column in NUMBERS else None
    if found is None:
        return cell
    whole, decimals = found.groups()
    return number(Decimal(f"{whole}.{decimals or 0}"), len(decimals or ""))


def filter_rows(item, selected):
    """(label, value) of each filter of the report, in words."""
    request, tz = item.request, current_app.config["TIMEZONE"]
    rows = [
        (_("Agent"), item.agent.name),
        (_("Period"), _("%(date_from)s – %(date_to)s (%(timezone)s, by dialog start)", date_from=format_date(request.date_from),
                        date_to=format_date(request.date_to), timezone=tz)),
        (_("Channels"), ", ".join(request.channel_list) or _("all channels")),
    ]
    if request.outcome_keys:
        rows.append((_("Outcomes"), (" " + _("or") + " ").join(str(outcomes.label(key)) for key in request.outcome_keys)))
    if selected:
        rows.append((_("Dialogs"), selected))
    return rows


def strong(text):
    """`text` in bold, for an email's HTML: a word of a translated sentence, escaped."""
    return Markup("<strong>%s</strong>") % text


def report_email(item, expires_at):
    """One email per agent: link, expiry, filters, data time and dialog count; a
    scheduled one also the report's top rows and the change since the period before,
    so that it can be read (and forwarded) without opening the file. It speaks the
    language of the account that asked for it, wherever it is built (the worker has
    no request to ask).

    The Message-ID is the item's own, so that a copy sent again after a crash
    (the one window SPEC allows) is recognised as the same message.
    """
    with speaking_to(item.request.account):
        message = _report_message(item, expires_at)
    message.msgId = f"<slotlens.item-{item.id}@{urlsplit(current_app.config['BASE_URL']).hostname}>"
    return message


def _report_message(item, expires_at):
    tz = current_app.config["TIMEZONE"]
    kind = kinds.KINDS[item.request.kind]
    subject, explanation = kind_texts(kind)
    selected = selection(item)
    filters = filter_rows(item, selected)
    compared = headline_changes(item.agent_id, filters_of(item.request), tz) if item.request.subscription_run else None
    context = dict(
        item=item,
        kind=kind,
        subject=subject,
        explanation=explanation,
        request=item.request,
        agent=item.agent,
        date_from=format_date(item.request.date_from),
        date_to=format_date(item.request.date_to),
        link=external_url("exports.download", token=download_token(item)),
        xlsx_link=external_url("exports.download", token=download_token(item), extension="xlsx") if has_workbook(item) else None,
        xlsx_max_rows=number(files.XLSX_MAX_ROWS),
        dialogs=number(item.dialogs),
        selection=selected,
        expires=format_local(expires_at, tz),
        data_as_of=format_local(item.data_as_of, tz),
        filters=filters,
        label_width=max(len(label) for label, _value in filters) + 2,
        subscription=scheduled_by(item.request),
        subscriptions_link=external_url("subscriptions.index"),
        compared=compared,
        figure_width=max([17] + [len(str(figure.label)) + 2 for figure in compared[1]]) if compared else 17,
        top=top_rows(report_path(item), item.request.account.csv_separator) if item.request.subscription_run and item.dialogs else None,
        strong=strong,
    )
    return Message(
        subject=email_subject(item),
        recipients=[item.request.account.email],
        body=render_template("email/report.txt", **context),
        html=render_template("email/report.html", **context),
    )
