"""Export requests and their per-agent items: recording, claiming, building, sending.

The database is the truth; the Huey queue only carries item ids. Every step
can be repeated safely: an item is claimed with one conditional UPDATE, a
built report is not rebuilt, and a sent item is never sent again.
"""
import hashlib
import logging
import math
import os
import secrets
import shutil
import smtplib
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message
from itsdangerous import BadSignature, URLSafeSerializer
from peewee import fn

import models
import reports
from extensions import mail
from localtime import format_local
from models import Account, Agent, ExportItem, ExportRequest, db, utcnow
from observability import log_event

log = logging.getLogger(__name__)

QUEUED, BUILDING, SENT, FAILED, EXPIRED = "queued", "building", "sent", "failed", "expired"
IN_FLIGHT = (QUEUED, BUILDING)


@dataclass(frozen=True)
class Outcome:
    """What `request_export` did, for the page to say."""

    request: ExportRequest | None
    status: str  # "queued", "duplicate" or "too_many"


def filters_of(request):
    return reports.Filters(
        agent_ids=tuple(sorted(item.agent_id for item in request.items)),
        date_from=request.date_from,
        date_to=request.date_to,
        channels=tuple(request.channel_list),
    )


def filters_key(filters):
    """A digest equal for two requests exactly when they ask for the same reports
    (fixed length, however many agents and channels were picked)."""
    agents = ",".join(str(i) for i in sorted(filters.agent_ids))
    channels = "\n".join(sorted(filters.channels))
    return hashlib.sha256(f"{agents}|{filters.date_from}|{filters.date_to}|{channels}".encode()).hexdigest()


def in_flight_requests(account):
    return (
        ExportRequest.select()
        .join(ExportItem)
        .where((ExportRequest.account == account) & ExportItem.state.in_(IN_FLIGHT))
        .distinct()
    )


def request_export(account, filters, max_pending):
    """Record an export request (one item per agent) unless it would repeat or flood.

    The caller enqueues the items of a queued outcome after the transaction.
    """
    with db.atomic():
        if db.for_update:
            Account.select().where(Account.id == account.id).for_update().get()
        key = filters_key(filters)
        in_flight = list(in_flight_requests(account))
        duplicate = next((r for r in in_flight if r.filters_key == key), None)
        if duplicate:
            return Outcome(duplicate, "duplicate")
        if len(in_flight) >= max_pending:
            return Outcome(None, "too_many")
        request = ExportRequest.create(
            account=account,
            date_from=filters.date_from,
            date_to=filters.date_to,
            channels="\n".join(sorted(filters.channels)),
            filters_key=key,
        )
        ExportItem.insert_many([dict(request=request, agent=agent_id) for agent_id in sorted(filters.agent_ids)]).execute()
    return Outcome(request, "queued")


def enqueue(items):
    """Put items on the general export queue (ids only)."""
    task = current_app.extensions["slotlens.process_item"]
    for item in items:
        task(item.id)


def queue_position(item):
    """1 for the next item a worker will take."""
    return ExportItem.select().where((ExportItem.state == QUEUED) & (ExportItem.id < item.id)).count() + 1


def lease_lapsed(now):
    """A building item whose worker stopped renewing its lease (it died): free to take."""
    return (ExportItem.state == BUILDING) & (ExportItem.lease_until < now)


def claim(item_id, lease):
    """Take an item for building, atomically; None if it is done, not due yet, or taken.

    The claim carries a random token: only its holder may renew the lease or
    record the outcome, so a worker that stalled past its lease cannot overwrite
    the work of the one that took over.
    """
    now = utcnow()
    due = ExportItem.not_before.is_null() | (ExportItem.not_before <= now)
    claimable = ((ExportItem.state == QUEUED) & due) | lease_lapsed(now)
    token = secrets.token_hex(16)
    taken = (
        ExportItem.update(
            state=BUILDING, lease_until=now + lease, claim_token=token, attempts=ExportItem.attempts + 1
        )
        .where((ExportItem.id == item_id) & claimable)
        .execute()
    )
    return ExportItem.get_by_id(item_id) if taken else None


def update_claimed(item, **changes):
    """Record changes if the item is still ours; False if another worker took it over."""
    changed = (
        ExportItem.update(**changes)
        .where((ExportItem.id == item.id) & (ExportItem.claim_token == item.claim_token))
        .execute()
    )
    for name, value in changes.items():
        setattr(item, name, value)
    return bool(changed)


@contextmanager
def lease_kept(item, lease):
    """Renew the item's lease in the background while this worker is alive and busy.

    A worker killed mid-task stops renewing, so its item becomes claimable again
    one lease later, while a slow but living worker is never mistaken for a dead one.
    """
    done = threading.Event()

    def renew():
        with models.connection():
            while not done.wait(lease.total_seconds() / 3):
                update_claimed(item, lease_until=utcnow() + lease)

    heartbeat = threading.Thread(target=renew, name=f"lease-{item.id}", daemon=True)
    heartbeat.start()
    try:
        yield
    finally:
        done.set()
        heartbeat.join()


def report_path(item):
    """Each item's file lives in a folder of its own, under the name users see."""
    name = reports.report_file_name(item.agent.slug, item.request.date_from, item.request.date_to)
    return os.path.join(current_app.config["REPORTS_DIR"], str(item.id), name)


def process_item(item_id):
    """Build and send one agent's report, once. Called by the worker for each queue message."""
    config = current_app.config
    lease = timedelta(seconds=config["EXPORT_LEASE"])
    started = time.perf_counter()
    item = claim(item_id, lease)
    if item is None:
        log_event("export_item", item=item_id, outcome="skipped", reason="done, not due, or taken")
        return
    with lease_kept(item, lease):
        try:
            deliver(item, lease)
        except Exception as exc:
            if not is_transient(exc):
                log.exception("export item %s failed", item.id)
                update_claimed(item, state=FAILED, lease_until=None, error=describe(exc))
            else:
                retry_later(item, exc)
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
    account = item.request.account
    if not account.visible_agents().where(Agent.id == item.agent_id).exists():
        update_claimed(item, state=FAILED, lease_until=None, error="This account no longer has access to this agent.")
        return
    path = report_path(item)
    if item.data_as_of is None or not os.path.exists(path):
        time.sleep(config["EXPORT_BUILD_DELAY"])
        data_as_of = utcnow()
        dialogs = reports.build_report(item.agent, filters_of(item.request), config["TIMEZONE"], path)
        update_claimed(item, dialogs=dialogs, data_as_of=data_as_of)
    if not update_claimed(item, lease_until=utcnow() + lease):
        log.warning("export item %s was taken over by another worker; not sending", item.id)
        return
    sent_at = utcnow()
    expires_at = sent_at + timedelta(seconds=config["REPORT_LINK_TTL"])
    with mail.connect() as smtp:
        smtp.send(report_email(item, expires_at))
        # The one unavoidable window: a crash between the SMTP server accepting the
        # message and this line makes a recovering worker send the email again. It is
        # recorded before the connection's goodbye, and a resent copy carries the same
        # Message-ID, so mail systems that remove duplicates show it once.
        update_claimed(item, state=SENT, sent_at=sent_at, expires_at=expires_at, lease_until=None, error=None)


def is_transient(exc):
    """Worth retrying: the mail server is unreachable, timed out or answered 4xx."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    return isinstance(exc, OSError)  # refused, reset, timed out, disconnected, DNS


def describe(exc):
    """A reason a person can act on, for the Exports page."""
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"The mail server answered {exc.smtp_code}: {message}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, message = next(iter(exc.recipients.values()))
        return f"The mail server refused the recipient ({code}: {message.decode(errors='replace')})"
    if isinstance(exc, OSError):
        return f"The mail server could not be reached: {exc}"
    return f"{type(exc).__name__}: {exc}"


def retry_delay(attempts, first_delay):
    """Exponential back-off from `first_delay` seconds, at most 15 minutes."""
    return min(first_delay * 2 ** max(attempts - 1, 0), 15 * 60)


def retry_later(item, exc):
    """Put the item back for a later attempt, or fail it once retrying has lasted long enough."""
    config = current_app.config
    now = utcnow()
    failing_since = item.failing_since or now
    give_up_at = failing_since + timedelta(seconds=config["EXPORT_RETRY_FOR"])
    reason = describe(exc)
    if now >= give_up_at:
        minutes = config["EXPORT_RETRY_FOR"] / 60
        log.error("export item %s failed after retrying for %.0f min: %s", item.id, minutes, reason)
        update_claimed(item, state=FAILED, lease_until=None, error=f"{reason} (gave up after {minutes:.0f} min of retries)")
        return
    not_before = min(now + timedelta(seconds=retry_delay(item.attempts, config["EXPORT_RETRY_DELAY"])), give_up_at)
    log.warning("export item %s: %s; retrying at %s", item.id, reason, not_before)
    if update_claimed(item, state=QUEUED, lease_until=None, not_before=not_before, failing_since=failing_since, error=reason):
        task = current_app.extensions["slotlens.process_item"]
        task.schedule(args=(item.id,), delay=max((not_before - now).total_seconds(), 0))


def _serializer():
    return URLSafeSerializer(
        current_app.config["SECRET_KEY"], salt="report-download", signer_kwargs={"digest_method": hashlib.sha256}
    )


def download_token(item):
    """A signed token naming the item and the account it was sent to."""
    return _serializer().dumps({"item": item.id, "account": item.request.account_id})


def item_for_token(token):
    """The item a genuine token names, or None for a tampered or unknown token."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    item = ExportItem.get_or_none(ExportItem.id == data.get("item"))
    if item is None or item.request.account_id != data.get("account"):
        return None
    return item


def is_downloadable(item, now=None):
    return item.state == SENT and item.expires_at is not None and (now or utcnow()) < item.expires_at


def external_url(endpoint, **values):
    """An absolute link under BASE_URL, for emails built outside any web request."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def email_subject(item):
    request = item.request
    return f"Stop slots report: {item.agent.name}, {request.date_from.isoformat()} \u2013 {request.date_to.isoformat()}"


def report_email(item, expires_at):
    """One email per agent: link, expiry, filters, data time and dialog count."""
    tz = current_app.config["TIMEZONE"]
    context = dict(
        item=item,
        request=item.request,
        agent=item.agent,
        link=external_url("exports.download", token=download_token(item)),
        expires=format_local(expires_at, tz),
        data_as_of=format_local(item.data_as_of, tz),
        channels=", ".join(item.request.channel_list) or "all channels",
        timezone=tz,
    )
    message = Message(
        subject=email_subject(item),
        recipients=[item.request.account.email],
        body=render_template("email/report.txt", **context),
        html=render_template("email/report.html", **context),
    )
    message.msgId = f"<slotlens.item-{item.id}@{urlsplit(current_app.config['BASE_URL']).hostname}>"
    return message


def expire_links(now=None):
    """Mark sent items whose link has expired, and delete their files. Returns how many."""
    now = now or utcnow()
    expired = list(ExportItem.select(ExportItem.id).where((ExportItem.state == SENT) & (ExportItem.expires_at <= now)))
    for item in expired:
        shutil.rmtree(os.path.join(current_app.config["REPORTS_DIR"], str(item.id)), ignore_errors=True)
        ExportItem.update(state=EXPIRED).where(ExportItem.id == item.id).execute()
    return len(expired)


def orphaned_items(grace, now=None):
    """Items whose queue message may be lost: due for longer than `grace` but still
    queued, or building under a lease that ran out (the worker died). Enqueueing
    them again is safe: a second message finds the item claimed or done."""
    now = now or utcnow()
    due_since = fn.COALESCE(ExportItem.not_before, ExportRequest.created_at)
    stale_queued = (ExportItem.state == QUEUED) & (due_since <= now - grace)
    return list(
        ExportItem.select(ExportItem.id, ExportItem.state).join(ExportRequest).where(stale_queued | lease_lapsed(now))
    )


def to_requeue(orphans, queue_length):
    """Which orphans to enqueue again. A building item's message is gone for sure; queued
    items are re-sent only when the queue holds fewer messages than they number, so a
    long but healthy backlog is not doubled by every worker start and every sweep."""
    waiting = [item for item in orphans if item.state == QUEUED]
    lost = [item for item in orphans if item.state != QUEUED]
    return lost + (waiting if queue_length < len(waiting) else [])


@dataclass(frozen=True)
class QueueHealth:
    """What an operator needs to see whether exports flow (admin page and `queue-status`)."""

    waiting: list  # queued or building items, oldest request first
    sla: timedelta
    failures: list  # failed items of requests from the last 24 hours
    latencies: list  # click-to-email seconds of items sent in the last 24 hours, sorted
    now: object

    def age(self, item):
        return self.now - item.request.created_at

    def is_late(self, item):
        return self.age(item) > self.sla

    @property
    def queued(self):
        return sum(1 for item in self.waiting if item.state == QUEUED)

    @property
    def building(self):
        return sum(1 for item in self.waiting if item.state == BUILDING)

    @property
    def over_sla(self):
        return sum(1 for item in self.waiting if self.is_late(item))

    def percentile(self, fraction):
        """Nearest-rank percentile of the latencies, None without any."""
        if not self.latencies:
            return None
        rank = max(1, math.ceil(len(self.latencies) * fraction))
        return self.latencies[rank - 1]

    def lines(self):
        oldest = self.waiting[0] if self.waiting else None
        age = f"{self.age(oldest).total_seconds():.0f} s (request #{oldest.request_id})" if oldest else "none waiting"
        median, p95 = self.percentile(0.5), self.percentile(0.95)
        latency = f"median {median:.1f} s, p95 {p95:.1f} s" if median is not None else "no emails sent"
        return [
            ("Queued items", self.queued),
            ("Building items", self.building),
            ("Oldest waiting", age),
            (f"Waiting longer than EXPORT_SLA ({self.sla.total_seconds():.0f} s)", self.over_sla),
            ("Failures (24 h)", len(self.failures)),
            ("Click to email (24 h)", latency),
        ] + [(f"  failed item {item.id} ({item.agent.name})", item.error) for item in self.failures]


def queue_health(now=None):
    now = now or utcnow()
    day_ago = now - timedelta(days=1)
    items = ExportItem.select(ExportItem, ExportRequest, Agent).join(ExportRequest).switch(ExportItem).join(Agent)
    waiting = list(items.where(ExportItem.state.in_(IN_FLIGHT)).order_by(ExportRequest.created_at, ExportItem.id))
    recent = list(items.where((ExportRequest.created_at >= day_ago) & ExportItem.state.in_((SENT, FAILED, EXPIRED))))
    return QueueHealth(
        waiting=waiting,
        sla=timedelta(seconds=current_app.config["EXPORT_SLA"]),
        failures=[item for item in recent if item.state == FAILED],
        latencies=sorted((item.sent_at - item.request.created_at).total_seconds() for item in recent if item.sent_at),
        now=now,
    )
