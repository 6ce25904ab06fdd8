"""The workers' sweep checks each alert once per period, on the subscriptions'
schedule machinery: the latest due period (so a worker back after downtime checks
it once), recorded as an AlertRun whose unique index lets one worker record it
however many check at the same moment. A check that fails to compute records
nothing but the failure, on the alert: the next sweep tries again, and nobody is
mailed about it."""
import logging
from datetime import date
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from peewee import IntegrityError, fn

import languages
from alerts import watching
from alerts.delivery import QUEUED, QUIET, send_alert
from database import db
from export_queue.delivery import DATABASE_ERRORS
from export_queue.intake import lock_account
from extensions import huey, in_app_context
from models import Account, Alert, AlertRun, utcnow
from subscriptions import schedules
from webguard.request_log import log_event

log = logging.getLogger(__name__)


def create(account, settings, max_per_account):
    """Record an alert with `settings`, unless the account has `max_per_account`
    already (paused ones count: they may resume); None then."""
    with db.atomic():
        lock_account(account)
        if Alert.select().where(Alert.account == account).count() >= max_per_account:
            return None
        return Alert.create(account=account, **settings)


def active_alerts():
    """Alerts that are checked: not paused, and their account not disabled."""
    return Alert.select(Alert, Account).join(Account).where(~Alert.is_paused & ~Account.is_disabled).order_by(Alert.id)


def due_checks(now, tz_name):
    """(alert, run) for every active alert whose latest due period is not checked yet,
    and ends after the last one checked (an edited or resumed alert never goes back)."""
    tz = ZoneInfo(tz_name)
    for alert in active_alerts():
        run = schedules.latest_run(schedules.schedule_of(alert), tz, now)
        checked_to = AlertRun.select(fn.MAX(AlertRun.last_day)).where(AlertRun.alert == alert).scalar()
        if checked_to is None or run.last_day > _day(checked_to):
            yield alert, run


def _day(value):
    """A DateField's value as a date (SQLite's MAX() returns its text)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def check(alert, run, now, tz_name):
    """Check one period of the alert and record it; the AlertRun to email, or None
    (nothing crossed, no data, another worker recorded it, or the check failed).
    Its notes, and the reason of a failure, are kept in the words of its account's language."""
    with languages.speaking_to(alert.account):
        return _check(alert, run, now, tz_name)


def _check(alert, run, now, tz_name):
    try:
        findings, notes = watching.evaluate(alert, run.first_day, run.last_day, tz_name)
    except Exception as exc:  # noqa: BLE001 - retried by the next sweep, shown on /subscriptions
        log.warning("alert %s: the check of %s..%s failed; the next sweep retries it", alert.id, run.first_day, run.last_day, exc_info=True)
        failing(alert, run, exc, now)
        return None
    try:
        with db.atomic():
            recorded = AlertRun.create(alert=alert, first_day=run.first_day, last_day=run.last_day, checked_at=now,
                                       findings=watching.to_json(findings), note="; ".join(notes) or None,
                                       state=QUEUED if findings else QUIET)
            Alert.update(failing_since=None, last_error=None).where(Alert.id == alert.id).execute()
    except IntegrityError:
        Alert.update(failing_since=None, last_error=None).where(Alert.id == alert.id).execute()  # another worker recorded it
        return None
    except DATABASE_ERRORS as exc:  # busy or unreachable: the next sweep tries again
        log.warning("alert %s: recording the check of %s..%s failed", alert.id, run.first_day, run.last_day, exc_info=True)
        failing(alert, run, exc, now)
        return None
    log_event("alert_checked", alert=alert.id, first_day=run.first_day, last_day=run.last_day, findings=len(findings))
    return recorded if findings else None


def failing(alert, run, exc, now):
    """Remember that checking `run` failed, in words that name no one's data, unless
    another worker has recorded that period meanwhile."""
    reason = _("The last check could not be computed (%(error)s); the worker tries again every minute.", error=type(exc).__name__)
    recorded = AlertRun.select().where((AlertRun.alert == alert.id) & (AlertRun.first_day == run.first_day)
                                       & (AlertRun.last_day == run.last_day))
    try:
        Alert.update(failing_since=fn.COALESCE(Alert.failing_since, now), last_error=reason).where(
            (Alert.id == alert.id) & ~fn.EXISTS(recorded)).execute()
    except DATABASE_ERRORS:
        log.warning("alert %s: could not record that its check failed", alert.id, exc_info=True)


def check_due(now, tz_name):
    """Check every due period this worker wins; returns the AlertRuns to email."""
    return [found for found in (check(alert, run, now, tz_name) for alert, run in list(due_checks(now, tz_name))) if found]


def run_checks():
    """Check the due alerts and queue the emails of what they found: every worker's
    sweep does, and a new or changed alert's check does at once."""
    for run in check_due(utcnow(), current_app.config["TIMEZONE"]):
        send_alert(run.id)


@huey.task()
@in_app_context
def check_alerts_now():
    run_checks()
