"""/subscriptions: an account's scheduled reports, with their next and last run,
and its alerts, with their last check; pause, resume, edit and delete each."""
import json

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from peewee import fn

from alerts import watching
from alerts.checks import check_alerts_now
from alerts.emails import checked_when
from blueprints.alert_form import AlertForm, alert_form
from blueprints.guards import login_required
from comparison.periods import in_words as days_in_words
from export_queue import states
from languages.formats import ngettext
from blueprints.subscription_form import SubscriptionForm
from models import Agent, Alert, AlertRun, ExportItem, ExportRequest, Subscription, SubscriptionRun, utcnow
from outcomes.rules import OUTCOMES
from reporting import kinds
from reporting.localtime import format_date
from subscriptions import notes
from subscriptions.schedules import describe, schedule_of
from subscriptions.wording import in_words, subscription_summary

bp = Blueprint("subscriptions", __name__)


@bp.route("/subscriptions")
@login_required
def index():
    subscriptions = list(Subscription.select().where(Subscription.account == g.account).order_by(Subscription.id))
    tz = current_app.config["TIMEZONE"]
    names = dict(Agent.select(Agent.id, Agent.name).tuples())
    rows = []
    for subscription in subscriptions:
        last = (SubscriptionRun.select().where(SubscriptionRun.subscription == subscription)
                .order_by(SubscriptionRun.due_at.desc(), SubscriptionRun.id.desc()).first())
        rows.append(dict(
            subscription=subscription,
            summary=summary_of(subscription),
            kinds=[kinds.KINDS[k].LABEL for k in json.loads(subscription.kinds) if k in kinds.KINDS],
            agents=sorted(names.get(agent_id, _("(deleted agent)")) for agent_id in json.loads(subscription.agents)),
            channels=json.loads(subscription.channels),
            outcomes=[OUTCOMES[key] for key in json.loads(subscription.outcomes) if key in OUTCOMES],
            last=last,
            note=notes.in_words(last, tz) if last else "",
            requests=list(ExportRequest.select().where(ExportRequest.subscription_run == last)) if last else [],
            outcome=outcome_of(last),
        ))
    return render_template("subscriptions/index.html", rows=rows, alerts=alert_rows(names), day=format_date)


def summary_of(subscription):
    """The schedule in words with its next email; while paused, without one (it sends nothing until resumed)."""
    if subscription.is_paused:
        return describe(schedule_of(subscription), current_app.config["TIMEZONE"])
    return subscription_summary(subscription, current_app.config["TIMEZONE"])


def alert_rows(names):
    """The account's alerts in words, each with its last check."""
    tz = current_app.config["TIMEZONE"]
    rows = []
    for alert in Alert.select().where(Alert.account == g.account).order_by(Alert.id):
        last = AlertRun.select().where(AlertRun.alert == alert).order_by(AlertRun.last_day.desc(), AlertRun.id.desc()).first()
        rows.append(dict(alert=alert, rule=watching.threshold_words(alert), when=checked_when(alert, tz),
                         agents=sorted(names.get(agent_id, _("(deleted agent)")) for agent_id in json.loads(alert.agents)),
                         channels=json.loads(alert.channels), last=last, last_words=last_check_words(last)))
    return rows


def last_check_words(run):
    """What the alert's last check found, e.g. '23–29 Nov: 2 changes crossed the threshold, emailed'."""
    if run is None:
        return _("not checked yet")
    found = len(watching.from_json(run.findings))
    if found:
        outcome = {"sent": _("emailed"), "failed": _("the email failed: %(error)s", error=run.error), "queued": _("email on its way"),
                   "sending": _("email on its way")}[run.state]
        words = ngettext("%(num)s change crossed the threshold, %(outcome)s", "%(num)s changes crossed the threshold, %(outcome)s",
                         found, outcome=outcome)
    else:
        words = _("nothing crossed the threshold")
    return f"{days_in_words(run.first_day, run.last_day)}: {words}" + (f"; {run.note}" if run.note else "")


@bp.route("/subscriptions/when")
@login_required
def when():
    """What the subscription form would make, in words, for the form's script to show."""
    form = SubscriptionForm(request.args, meta={"csrf": False})
    valid = all(field.validate(form) for field in (form.frequency, form.weekday, form.day, form.at))
    return in_words(form.schedule(), utcnow(), current_app.config["TIMEZONE"]) if valid else "", {"Content-Type": "text/plain; charset=utf-8"}


def outcome_of(run):
    """How the run's emails fared, e.g. '2 sent, 1 failed'."""
    if run is None:
        return ""
    counts = (ExportItem.select(ExportItem.state, fn.COUNT(ExportItem.id)).join(ExportRequest)
              .where(ExportRequest.subscription_run == run).group_by(ExportItem.state).order_by(ExportItem.state))
    return ", ".join(states.counted(state, count) for state, count in counts.tuples())


def owned(model, row_id):
    """The account's own subscription or alert of this id; 404 for anyone else's."""
    row = model.get_or_none((model.id == row_id) & (model.account == g.account))
    if row is None:
        abort(404)
    return row


@bp.route("/subscriptions/<int:subscription_id>/<any(pause, resume):action>", methods=("POST",))
@login_required
def set_paused(subscription_id, action):
    """A resumed subscription does not send the periods that came due while it was paused."""
    subscription = owned(Subscription, subscription_id)
    changes = {"is_paused": action == "pause"}
    if action == "resume":
        changes["starts_at"] = utcnow()
    Subscription.update(**changes).where(Subscription.id == subscription.id).execute()
    flash(_("Subscription paused.") if action == "pause" else _("Subscription resumed."), "success")
    return redirect(url_for("subscriptions.index"))


@bp.route("/subscriptions/<int:subscription_id>/edit", methods=("GET", "POST"))
@login_required
def edit(subscription_id):
    """Change what, how often and when; a changed subscription sends from its next due time on."""
    subscription = owned(Subscription, subscription_id)
    form = SubscriptionForm(meta={"csrf": False}) if request.method == "POST" else SubscriptionForm.of(subscription)
    if request.method == "POST" and form.validate():
        Subscription.update(starts_at=utcnow(), **form.settings()).where(Subscription.id == subscription.id).execute()
        changed = Subscription.get_by_id(subscription.id)
        if changed.is_paused:
            flash(_("Subscription changed. Paused until you resume it: %(summary)s.", summary=summary_of(changed)), "success")
        else:
            flash(_("Subscription changed. %(summary)s.", summary=summary_of(changed)), "success")
        return redirect(url_for("subscriptions.index"))
    return render_template("subscriptions/edit.html", subscription=subscription, form=form), 400 if request.method == "POST" else 200


@bp.route("/subscriptions/<int:subscription_id>/delete", methods=("POST",))
@login_required
def delete(subscription_id):
    owned(Subscription, subscription_id).delete_instance()
    flash(_("Subscription deleted. Reports it already sent stay on the Exports page."), "success")
    return redirect(url_for("subscriptions.index"))


@bp.route("/alerts/<int:alert_id>/<any(pause, resume):action>", methods=("POST",))
@login_required
def set_alert_paused(alert_id, action):
    """A resumed alert checks the latest complete period at once, and goes on from there."""
    alert = owned(Alert, alert_id)
    Alert.update(is_paused=action == "pause").where(Alert.id == alert.id).execute()
    if action == "resume":
        check_alerts_now()
    flash(_("Alert paused.") if action == "pause" else _("Alert resumed."), "success")
    return redirect(url_for("subscriptions.index"))


@bp.route("/alerts/<int:alert_id>/edit", methods=("GET", "POST"))
@login_required
def edit_alert(alert_id):
    """Change what it watches, its threshold and when it checks; periods already checked stay as they were."""
    alert = owned(Alert, alert_id)
    form = alert_form(request.form) if request.method == "POST" else AlertForm.of(alert)
    if request.method == "POST" and form.validate():
        Alert.update(**form.settings()).where(Alert.id == alert.id).execute()
        check_alerts_now()
        flash(_("Alert changed: %(rule)s.", rule=watching.threshold_words(Alert.get_by_id(alert.id))), "success")
        return redirect(url_for("subscriptions.index"))
    return render_template("subscriptions/edit.html", alert=alert, form=form), 400 if request.method == "POST" else 200


@bp.route("/alerts/<int:alert_id>/delete", methods=("POST",))
@login_required
def delete_alert(alert_id):
    owned(Alert, alert_id).delete_instance()
    flash(_("Alert deleted."), "success")
    return redirect(url_for("subscriptions.index"))
