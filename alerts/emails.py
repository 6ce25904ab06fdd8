"""The email of an alert's period: its subject says what got worse; its body lists
each change with before, after, change, dialogs and a link to the dialogs behind it.
It speaks its recipient's language (`languages.speaking_to`), numbers included."""
import json
import re
from decimal import Decimal
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import gettext as _, lazy_gettext as _l

from alerts import watching
from comparison.periods import comparison_in_words, in_words, previous_period
from export_queue.emails import external_url
from extensions import Message
from languages import speaking_to
from languages.formats import DEFAULT, language, ngettext, number
from reporting.kinds.outcomes import has_rules
from subscriptions import schedules

# The dialogs behind each watched rate going the wrong way: the losses at a slot, the
# escalations, the dialogs not completed (outcome keys; `outcomes.rules.OUTCOMES`).
BEHIND = {"exit-rate": (), "containment": ("escalated",), "completion": ("escalated", "failed", "abandoned", "in-progress")}
BEHIND_WORDS = {"exit-rate": _l("the dialogs that stopped at the slot without ending well"), "containment": _l("the escalated dialogs"),
                "completion": _l("the dialogs not completed")}
CHANGE = re.compile(r"([+\u2212\u00b1])(\d+)(?:\.(\d+))? pp")  # a Finding's change as stored: "+3.20 pp", "±0 pp"


def change_words(change, signed=True):
    """A Finding's change ("+3.20 pp", stored in English) as the language writes it:
    '+3.20 pp', '+3,20 п. п.' (as `comparison.changes` writes a change for a page);
    without its sign when `signed` is false."""
    found = CHANGE.fullmatch(change)
    if found is None:
        return change
    sign, whole, decimals = found.groups()
    sign = sign if signed else ""
    if language() == DEFAULT:
        return f"{sign}{whole}{'.' + decimals if decimals else ''} pp"
    return sign + number(Decimal(f"{whole}.{decimals or 0}"), len(decimals or "")) + "\u00a0" + _("pp")


def subject(alert, findings, period):
    """E.g. 'Exit rate rose at 2 slots of Support Bot, 23–29 Nov' or 'Containment fell by 5.20 pp for Support Bot, 30 Nov'."""
    rose = alert.direction == "rises"
    agents = sorted({found.agent for found in findings})
    whose = agents[0] if len(agents) == 1 else ngettext("%(num)s agent", "%(num)s agents", len(agents))
    if alert.watch == "exit-rate":
        if len(findings) == 1:
            if rose:
                return _("Exit rate rose at %(slot)s of %(whose)s, %(period)s", slot=findings[0].slot, whose=whose, period=period)
            return _("Exit rate fell at %(slot)s of %(whose)s, %(period)s", slot=findings[0].slot, whose=whose, period=period)
        if rose:
            return ngettext("Exit rate rose at %(num)s slot of %(whose)s, %(period)s", "Exit rate rose at %(num)s slots of %(whose)s, %(period)s",
                            len(findings), whose=whose, period=period)
        return ngettext("Exit rate fell at %(num)s slot of %(whose)s, %(period)s", "Exit rate fell at %(num)s slots of %(whose)s, %(period)s",
                        len(findings), whose=whose, period=period)
    words = dict(whose=whose, period=period)
    if len(findings) == 1:
        by = change_words(findings[0].change, signed=False)
        return {
            ("containment", True): lambda: _("Containment rose by %(by)s for %(whose)s, %(period)s", by=by, **words),
            ("containment", False): lambda: _("Containment fell by %(by)s for %(whose)s, %(period)s", by=by, **words),
            ("completion", True): lambda: _("Completion rose by %(by)s for %(whose)s, %(period)s", by=by, **words),
            ("completion", False): lambda: _("Completion fell by %(by)s for %(whose)s, %(period)s", by=by, **words),
        }[alert.watch, rose]()
    return {
        ("containment", True): lambda: _("Containment rose for %(whose)s, %(period)s", **words),
        ("containment", False): lambda: _("Containment fell for %(whose)s, %(period)s", **words),
        ("completion", True): lambda: _("Completion rose for %(whose)s, %(period)s", **words),
        ("completion", False): lambda: _("Completion fell for %(whose)s, %(period)s", **words),
    }[alert.watch, rose]()


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
    """The message for an AlertRun that found changes past its alert's threshold, in
    the language of the alert's account (the worker sends it: no request to ask)."""
    with speaking_to(run.alert.account):
        message = _alert_message(run)
    message.msgId = f"<slotlens.alert-run-{run.id}@{urlsplit(current_app.config['BASE_URL']).hostname}>"
    return message


def _alert_message(run):
    alert, tz = run.alert, current_app.config["TIMEZONE"]
    findings = watching.from_json(run.findings)
    before = previous_period(run.first_day, run.last_day)
    context = dict(
        alert=alert,
        rule=watching.threshold_words(alert),
        rows=[(found, dialogs_link(alert, found, run.first_day, run.last_day), change_words(found.change)) for found in findings],
        compared=comparison_in_words((run.first_day, run.last_day), before),
        schedule=checked_when(alert, tz),
        note=run.note,
        behind=BEHIND_WORDS[alert.watch],
        subscriptions_link=external_url("subscriptions.index"),
    )
    return Message(subject=subject(alert, findings, in_words(run.first_day, run.last_day)), recipients=[alert.account.email],
                   body=render_template("email/alert.txt", **context), html=render_template("email/alert.html", **context))
