"""Sending an alert's email once, as the export pipeline sends a report: claimed
with a lease (`database.claims.Lifecycle`), handed to the mail server
(`export_queue.delivery.hand_over`), retried with back-off while the mail server
refuses for now, failed when it refuses for good; once accepted, recorded as sent
however long the database takes to answer; a copy sent again after a crash keeps
its Message-ID.

    quiet (nothing crossed: no email)
    queued --claim--> sending --accepted--> sent
       ^                 |  \\--refused for good, or too long--> failed
       \\----retry-------/
"""
import logging
from datetime import timedelta

from flask import current_app

from alerts.emails import alert_email
from database.claims import Lifecycle
from export_queue.delivery import hand_over, mail_failure, retry_delay, written_after_send
from extensions import huey, in_app_context
from models import AlertRun, utcnow

log = logging.getLogger(__name__)

QUIET, QUEUED, SENDING, SENT, FAILED = "quiet", "queued", "sending", "sent", "failed"
TRANSITIONS = {
    QUIET: set(),
    QUEUED: {SENDING, SENT},
    SENDING: {SENDING, QUEUED, SENT, FAILED},
    SENT: set(),
    FAILED: set(),
}
RUNS = Lifecycle(AlertRun, TRANSITIONS, waiting=QUEUED, working=SENDING)


def send(run_id):
    """Send the email of one checked period, unless sent, failed, not due or taken."""
    config = current_app.config
    lease = timedelta(seconds=config["EXPORT_LEASE"])
    due = AlertRun.not_before.is_null() | (AlertRun.not_before <= utcnow())
    run = RUNS.claim(run_id, lease, ready=due)
    if run is None:
        return
    with RUNS.lease_kept(run, lease):
        message = alert_email(run)  # a database error here leaves the run to its lease: the sweep sends it again
        try:
            hand_over(message)
        except Exception as exc:  # noqa: BLE001 - the mail server's failure is recorded on the run
            retry_or_fail(run, mail_failure(exc))
            return
    written_after_send(run, lambda: RUNS.change(run.id, (QUEUED, SENDING), SENT, sent_at=utcnow(), error=None))


def retry_or_fail(run, failure):
    """Try again later while the mail server refuses for now, for EXPORT_RETRY_FOR at most."""
    config, now = current_app.config, utcnow()
    if failure.transient and now < run.checked_at + timedelta(seconds=config["EXPORT_RETRY_FOR"]):
        delay = retry_delay(run.attempts, config["EXPORT_RETRY_DELAY"])
        log.warning("alert run %s: %s; retrying in %ss", run.id, failure.reason, delay)
        if RUNS.move(run, QUEUED, not_before=now + timedelta(seconds=delay), error=failure.reason):
            send_alert.schedule(args=(run.id,), delay=delay)
        return
    log.error("alert run %s failed: %s", run.id, failure.reason)
    RUNS.move(run, FAILED, error=failure.reason)


def unsent(now):
    """Ids of runs to send whose queue message may be lost: queued and due, or
    sending with a lapsed lease (their worker died)."""
    due = (AlertRun.state == QUEUED) & (AlertRun.not_before.is_null() | (AlertRun.not_before <= now))
    return [run.id for run in AlertRun.select(AlertRun.id).where(due | RUNS.lease_lapsed(now))]


@huey.task()
@in_app_context
def send_alert(run_id):
    send(run_id)
