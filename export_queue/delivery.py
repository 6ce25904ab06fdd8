"""Building and sending one item's report, exactly once.

Each step names what it touches, so a failure is told by the step that failed:
the reports folder (building), the mail server (sending) or the database. Once
the mail server has accepted the email the report is delivered, whatever fails
after that: the goodbye, the connection, or recording it (retried until it holds).
"""
import errno
import logging
import os
import smtplib
import time
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from peewee import DatabaseError, InterfaceError

import database
from access.visibility import can_see
from export_queue.emails import report_email
from export_queue.failures import Failure, FailureKind
from export_queue.intake import filters_of, selector_of
from export_queue.links import has_workbook, report_folder, report_path
from export_queue.states import FAILED, QUEUED, SKIPPED, claim, lease_kept, mark_delivered, move, record
from extensions import huey, in_app_context, mail
from models import utcnow
from outcomes import recompute
from reporting import kinds
from reporting.kinds import transcripts
from webguard.request_log import log_event

log = logging.getLogger(__name__)

DATABASE_ERRORS = (DatabaseError, InterfaceError)
RECORD_RETRY_MAX_DELAY = 5  # seconds between attempts to record a delivery, at most
PERMANENT_FILE_ERRORS = {errno.ENAMETOOLONG}  # retrying cannot fix these


class StepFailed(Exception):
    """A step of delivery failed, as `failure` (a Failure) tells."""

    def __init__(self, failure):
        super().__init__(failure.reason)
        self.failure = failure


@contextmanager
def step(explain):
    """Turn any error of the enclosed step into a StepFailed explained by `explain`."""
    try:
        yield
    except StepFailed:
        raise
    except DATABASE_ERRORS as exc:
        failure = database_failure(exc)
        if failure.transient and not database.db.is_closed():
            database.db.close()  # a lost connection stays unusable; the next query opens a new one
        raise StepFailed(failure) from exc
    except Exception as exc:
        raise StepFailed(explain(exc)) from exc


def unexpected(exc):
    return Failure(FailureKind.UNEXPECTED, f"{type(exc).__name__}: {exc}", False)


def database_failure(exc):
    """A lost connection or a busy database is retried; any other database error
    (a bug, a constraint, a database not upgraded) fails the same way every time."""
    if database.is_transient(exc):
        return Failure(FailureKind.DATABASE_UNREACHABLE, f"The database could not be reached or was busy: {exc}", True)
    return Failure(FailureKind.DATABASE_REFUSED,
                   f"The database refused this step ({type(exc).__name__}); the worker's log has the details.", False)


def build_failure(folder):
    """Explains a failure to write the report file, naming the folder an admin must look at."""

    def explain(exc):
        if isinstance(exc, OSError):
            cause = exc.strerror or str(exc)
            return Failure(FailureKind.REPORT_NOT_WRITTEN, f"The report could not be written to {folder}: {cause}",
                           exc.errno not in PERMANENT_FILE_ERRORS)
        return unexpected(exc)

    return explain


def is_transient(exc):
    """Worth retrying: the mail server is unreachable, timed out or answered 4xx."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    return isinstance(exc, OSError)  # refused, reset, timed out, disconnected, DNS


def describe(exc):
    """The mail server's failure in its own words and codes, for admins and the log."""
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"The mail server answered {exc.smtp_code}: {message}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, message = next(iter(exc.recipients.values()))
        return f"The mail server refused the recipient ({code}: {message.decode(errors='replace')})"
    if isinstance(exc, OSError):
        return f"The mail server could not be reached: {exc}"
    return unexpected(exc).reason


def mail_kind(exc):
    """What the Exports page tells people about the mail server's failure."""
    if isinstance(exc, smtplib.SMTPResponseException):
        if exc.smtp_code < 0:  # smtplib's own code for a reply it could not read: no answer at all
            return FailureKind.UNEXPECTED
        return FailureKind.MAIL_DEFERRED if 400 <= exc.smtp_code < 500 else FailureKind.MAIL_REJECTED
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return FailureKind.MAIL_RECIPIENT_REFUSED
    if isinstance(exc, OSError):
        return FailureKind.MAIL_UNREACHABLE
    return FailureKind.UNEXPECTED


def mail_failure(exc):
    return Failure(mail_kind(exc), describe(exc), is_transient(exc))


def process_item(item_id):
    """Build and send one agent's report, once. Called by the worker for each queue message."""
    lease = timedelta(seconds=current_app.config["EXPORT_LEASE"])
    started = time.perf_counter()
    item = claim(item_id, lease)
    if item is None:
        log_event("export_item", item=item_id, outcome="skipped", reason="done, not due, or taken")
        return
    with lease_kept(item, lease):
        try:
            deliver(item, lease)
        except StepFailed as stopped:
            failure = stopped.failure
            if failure.transient:
                retry_later(item, failure)
            else:
                log.error("export item %s failed: %s", item.id, failure.reason, exc_info=stopped.__cause__)
                fail(item, failure)
        except Exception as exc:
            log.exception("export item %s failed", item.id)
            fail(item, unexpected(exc))
    log_event(
        "export_item",
        item=item.id,
        request=item.request_id,
        agent=item.agent.name,
        attempt=item.attempts,
        outcome=item.state,
        dialogs=item.dialogs,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def deliver(item, lease):
    """Build the report (unless built before), send its email, record it as sent."""
    config = current_app.config
    with step(unexpected):
        allowed = can_see(item.request.account, item.agent_id)
    if not allowed:
        fail(item, Failure(FailureKind.NO_ACCESS, "This account no longer has access to this agent.", False))
        return
    path = report_path(item)
    if not is_built(item):
        with step(unexpected):
            recompute.finish(item.agent_id)  # outcomes current for the agent's rules before any report reads them
        with step(build_failure(report_folder(item))):
            time.sleep(config["EXPORT_BUILD_DELAY"])
            data_as_of = utcnow()
            request = item.request
            dialogs = kinds.build_report(request.kind, item.agent, filters_of(request), config["TIMEZONE"], path,
                                         request.account.csv_separator, selector_of(request))
        with step(unexpected):
            record(item, dialogs=dialogs, data_as_of=data_as_of)
    with step(unexpected):
        if item.dialogs == 0 and skips_empty(item.request):
            move(item, SKIPPED, error="Empty, and its subscription skips empty reports: no email.")
            return
        still_ours = record(item, lease_until=utcnow() + lease)
    if not still_ours:
        log.warning("export item %s was taken over by another worker; not sending", item.id)
        return
    sent_at = utcnow()
    expires_at = sent_at + timedelta(seconds=config["REPORT_LINK_TTL"])
    with step(mail_failure):
        hand_over(report_email(item, expires_at))
    record_delivery(item, sent_at=sent_at, expires_at=expires_at, error=None, error_kind=None)


def is_built(item):
    """Built by an earlier attempt: its CSV (written last) is there, and its workbook,
    which only transcripts too long for a workbook have not (and reports built before
    workbooks existed, which are built again)."""
    if item.data_as_of is None or not os.path.exists(report_path(item)):
        return False
    return item.request.kind == transcripts.KEY or has_workbook(item)


def fail(item, failure):
    """The item will not be sent: record why, as its kind (the Exports page words it
    for people) and its reason (for admins)."""
    return move(item, FAILED, error=failure.reason, error_kind=failure.kind)


def skips_empty(request):
    run = request.subscription_run
    return run is not None and run.subscription.skip_empty


def hand_over(message):
    """Give the message to the mail server; returns once the server accepted it.

    The goodbye (QUIT) comes after acceptance: its failure is logged, never
    raised, because the email is already on its way.
    """
    accepted, send_error = False, None
    try:
        with mail.connect() as smtp:
            try:
                smtp.send(message)
            except OSError as exc:  # smtplib's errors are OSErrors
                send_error = exc
                raise
            accepted = True
    except OSError as exc:
        if not accepted:
            raise (send_error or exc) from None  # the failure that stopped delivery, not the goodbye's
        log_event("mail_goodbye_failed", level=logging.WARNING, message_id=message.msgId, error=exc)


def record_delivery(item, **changes):
    """Record an accepted email as sent. A database error that retrying cannot fix
    fails the item instead (its email went out, so it is not sent again by itself),
    rather than looping forever.

    Never raises a database error while it can still write: that would leave the
    item leased, and the sweep would take it for a lost send and send it again.
    """
    try:
        if not written_after_send(item, lambda: mark_delivered(item, **changes)):
            log.warning("export item %s was already recorded as delivered or failed", item.id)
    except DATABASE_ERRORS as exc:
        failure = Failure(FailureKind.SENT_NOT_RECORDED,
                          f"The email was sent, but recording it failed: {database_failure(exc).reason}", False)
        log.error("export item %s: %s", item.id, failure.reason, exc_info=exc)
        written_after_send(item, lambda: fail(item, failure))


def written_after_send(item, write):
    """Run `write` until it holds, while the database is unreachable or busy; raise what retrying cannot fix."""
    delay = 0.1
    while True:
        try:
            with database.connection():
                return write()
        except DATABASE_ERRORS as exc:
            if not database.is_transient(exc):
                raise
            log_event("record_delivery_retry", level=logging.WARNING, item=item.id, error=exc)
            if not database.db.is_closed():
                database.db.close()
            time.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX_DELAY)


def retry_delay(attempts, first_delay):
    """Exponential back-off from `first_delay` seconds, at most 15 minutes."""
    return min(first_delay * 2 ** max(attempts - 1, 0), 15 * 60)


def retry_later(item, failure):
    """Put the item back for a later attempt, or fail it once retrying has lasted long enough."""
    reason = failure.reason
    config = current_app.config
    now = utcnow()
    failing_since = item.failing_since or now
    give_up_at = failing_since + timedelta(seconds=config["EXPORT_RETRY_FOR"])
    if now >= give_up_at:
        minutes = config["EXPORT_RETRY_FOR"] / 60
        log.error("export item %s failed after retrying for %.0f min: %s", item.id, minutes, reason)
        fail(item, failure._replace(reason=f"{reason} (gave up after {minutes:.0f} min of retries)"))
        return
    not_before = min(now + timedelta(seconds=retry_delay(item.attempts, config["EXPORT_RETRY_DELAY"])), give_up_at)
    log.warning("export item %s: %s; retrying at %s", item.id, reason, not_before)
    if move(item, QUEUED, not_before=not_before, failing_since=failing_since, error=reason, error_kind=failure.kind):
        process_export_item.schedule(args=(item.id,), delay=max((not_before - now).total_seconds(), 0))


@huey.task()
@in_app_context
def process_export_item(item_id):
    process_item(item_id)


def enqueue(items):
    """Put items on the general export queue (ids only)."""
    for item in items:
        process_export_item(item.id)
