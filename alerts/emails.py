"""The email of an alert's period: its subject says what got worse; its body lists
each change with before, after, change, dialogs and a link to the dialogs behind it."""
import json
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message

from alerts import watching
from comparison.periods import comparison_in_words, in_words, previous_period
from export_queue.emails import external_url
from reporting.kinds.outcomes import has_rules
from subscriptions import schedules

SIGNS = "+\u2212"  # a change's sign, left out where the subject says "rose by" or "fell by"
# The dialogs behind each watched rate going the wrong way: the losses at a slot, the
# escalations, the dialogs not completed (outcome keys; `outcomes.rules.OUTCOMES`).
BEHIND = {"exit-rate": (), "containment": ("escalated",), "completion": ("escalated", "failed", "abandoned", "in-progress")}
BEHIND_WORDS = {"exit-rate": "the dialogs that stopped at the slot without ending well", "containment": "the escalated dialogs",
                "completion": "the dialogs not completed"}


def subject(alert, findings, period):
    """E.g. 'Exit rate rose at 2 slots of Support Bot, 23–29 Nov' or 'Containment fell by 5.20 pp for Support Bot, 30 Nov'."""
    moved = "rose" if alert.direction == "rises" else "fell"
    agents = sorted({found.agent for found in findings})
    whose = agents[0] if len(agents) == 1 else f"{len(agents)} agents"
    if alert.watch == "exit-rate":
        slots = f"{len(findings)} slot{'s' * (len(findings) != 1)}" if len(findings) != 1 else findings[0].slot
        return f"Exit rate {moved} at {slots} of {whose}, {period}"
    by = f" by {findings[0].change.lstrip(SIGNS)}" if len(findings) == 1 else ""
    return f"{watching.WATCHES[alert.watch]} {moved}{by} for {whose}, {period}"


def dialogs_link(alert, found, first_day, last_day):
    """The dialogs behind one change, in the alert's period."""
    selector = {"stop_slot": found.slot_key} if found.slot_key is not None else {}
    with_rules = alert.watch != "exit-rate" or has_rules(found.agent_id)
    outcomes = BEHIND[alert.watch] or (("failed", "abandoned") if with_rules else ())
    return external_url("dialogs.index", agents=[found.agent_id], date_from=first_day.isoformat(), date_to=last_day.isoformat(),
                        channels=json.loads(alert.channels), outcomes=list(outcomes), **selector)


def checked_when(alert, tz_name):
    """E.g. 'every Monday at 09:00 Europe/Berlin'."""
    words = schedules.when(schedules.schedule_of(alert), tz_name)
    return words[0].lower() + words[1:]


def alert_email(run):
    """The message for an AlertRun that found changes past its alert's threshold."""
    alert, tz = run.alert, current_app.config["TIMEZONE"]
    findings = watching.from_json(run.findings)
    before = previous_period(run.first_day, run.last_day)
    context = dict(
        alert=alert,
        rule=watching.threshold_words(alert),
        rows=[(found, dialogs_link(alert, found, run.first_day, run.last_day)) for found in findings],
        compared=comparison_in_words((run.first_day, run.last_day), before),
        schedule=checked_when(alert, tz),
        note=run.note,
        behind=BEHIND_WORDS[alert.watch],
        subscriptions_link=external_url("subscriptions.index"),
    )
    message = Message(subject=subject(alert, findings, in_words(run.first_day, run.last_day)), recipients=[alert.account.email],
                      body=render_template("email/alert.txt", **context), html=render_template("email/alert.html", **context))
    message.msgId = f"<slotlens.alert-run-{run.id}@{urlsplit(current_app.config['BASE_URL']).hostname}>"
    return message
