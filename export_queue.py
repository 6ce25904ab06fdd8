"""Export requests and their per-agent items: recording, claiming, building, sending.

The database is the truth; the Huey queue only carries item ids. Every step
can be repeated safely: an item is claimed with one conditional UPDATE, a
built report is not rebuilt, and a sent item is never sent again.
"""
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import Message
from itsdangerous import BadSignature, URLSafeSerializer

import reports
from extensions import mail
from localtime import format_local
from models import Account, Agent, ExportItem, ExportRequest, db, utcnow

log = logging.getLogger(__name__)

QUEUED, BUILDING, SENT, FAILED, EXPIRED = "queued", "building", "sent", "failed", "expired"
IN_FLIGHT = (QUEUED, BUILDING)
LEASE = timedelta(minutes=10)  # a building item untouched this long is taken to be orphaned


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
    """A string equal for two requests exactly when they ask for the same reports."""
    agents = ",".join(str(i) for i in sorted(filters.agent_ids))
    channels = "\n".join(sorted(filters.channels))
    return f"{agents}|{filters.date_from}|{filters.date_to}|{channels}"


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


def claim(item_id):
    """Take an item for building, atomically; None if it is done or someone else has it."""
    now = utcnow()
    claimable = (ExportItem.state == QUEUED) | ((ExportItem.state == BUILDING) & (ExportItem.lease_until < now))
    taken = (
        ExportItem.update(state=BUILDING, lease_until=now + LEASE, attempts=ExportItem.attempts + 1)
        .where((ExportItem.id == item_id) & claimable)
        .execute()
    )
    return ExportItem.get_by_id(item_id) if taken else None


def report_path(item):
    """Each item's file lives in a folder of its own, under the name users see."""
    name = reports.report_file_name(item.agent.slug, item.request.date_from, item.request.date_to)
    return os.path.join(current_app.config["REPORTS_DIR"], str(item.id), name)


def process_item(item_id):
    """Build and send one agent's report, once. Called by the worker for each queued item."""
    item = claim(item_id)
    if item is None:
        return
    try:
        deliver(item)
    except Exception as exc:
        log.exception("export item %s failed", item_id)
        ExportItem.update(state=FAILED, lease_until=None, error=f"{type(exc).__name__}: {exc}").where(
            ExportItem.id == item.id
        ).execute()


def deliver(item):
    """Build the report (unless already built), send its email, record it as sent."""
    config = current_app.config
    account = item.request.account
    if not account.visible_agents().where(Agent.id == item.agent_id).exists():
        mark(item, state=FAILED, lease_until=None, error="This account no longer has access to this agent.")
        return
    path = report_path(item)
    if item.data_as_of is None or not os.path.exists(path):
        data_as_of = utcnow()
        dialogs = reports.build_report(item.agent, filters_of(item.request), config["TIMEZONE"], path)
        mark(item, dialogs=dialogs, data_as_of=data_as_of)
    sent_at = utcnow()
    expires_at = sent_at + timedelta(seconds=config["REPORT_LINK_TTL"])
    send_report_email(item, expires_at)
    mark(item, state=SENT, sent_at=sent_at, expires_at=expires_at, lease_until=None, error=None)


def mark(item, **changes):
    """Record changes on the item row and on the object in hand."""
    ExportItem.update(**changes).where(ExportItem.id == item.id).execute()
    for name, value in changes.items():
        setattr(item, name, value)


def _serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="report-download")


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


def send_report_email(item, expires_at):
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
    mail.send(message)


def expire_links(now=None):
    """Mark sent items whose link has expired, and delete their files. Returns how many."""
    now = now or utcnow()
    expired = list(ExportItem.select(ExportItem.id).where((ExportItem.state == SENT) & (ExportItem.expires_at <= now)))
    for item in expired:
        shutil.rmtree(os.path.join(current_app.config["REPORTS_DIR"], str(item.id)), ignore_errors=True)
        mark(item, state=EXPIRED)
    return len(expired)


def orphaned_items(queued_before, now=None):
    """Items whose queue message may be lost: queued since before `queued_before`, or
    building under a lease that ran out (the worker died). Enqueueing them again is
    safe: a second message for an item finds it claimed or done and does nothing."""
    now = now or utcnow()
    stale_queued = (ExportItem.state == QUEUED) & (ExportRequest.created_at < queued_before)
    lapsed = (ExportItem.state == BUILDING) & (ExportItem.lease_until < now)
    return list(ExportItem.select().join(ExportRequest).where(stale_queued | lapsed))



@dataclass(frozen=True)
class QueueHealth:
    """What an operator needs to see whether exports flow (admin page and `queue-status`)."""

    queued: int
    building: int
    oldest_waiting: object  # naive UTC datetime of the oldest waiting request, or None
    over_sla: int
    failures: list  # (item, reason) of the last 24 hours
    latencies: list  # click-to-email seconds of items sent in the last 24 hours, sorted

    def percentile(self, fraction):
        if not self.latencies:
            return None
        return self.latencies[min(len(self.latencies) - 1, int(fraction * len(self.latencies)))]

    def lines(self, now=None):
        now = now or utcnow()
        age = f"{(now - self.oldest_waiting).total_seconds():.0f} s" if self.oldest_waiting else "none waiting"
        median, p95 = self.percentile(0.5), self.percentile(0.95)
        latency = f"median {median:.1f} s, p95 {p95:.1f} s" if median is not None else "no emails sent"
        return [
            ("Queued items", self.queued),
            ("Building items", self.building),
            ("Oldest waiting", age),
            ("Items over EXPORT_SLA", self.over_sla),
            ("Failures (24 h)", len(self.failures)),
            ("Click to email (24 h)", latency),
        ] + [(f"  failed item {item.id}", reason) for item, reason in self.failures]


def queue_health(sla_seconds=None, now=None):
    now = now or utcnow()
    sla = timedelta(seconds=sla_seconds or current_app.config["EXPORT_SLA"])
    day_ago = now - timedelta(days=1)
    waiting = ExportItem.select(ExportItem, ExportRequest).join(ExportRequest).where(ExportItem.state.in_(IN_FLIGHT))
    created = [item.request.created_at for item in waiting]
    recent = (
        ExportItem.select(ExportItem, ExportRequest)
        .join(ExportRequest)
        .where((ExportRequest.created_at >= day_ago) & ExportItem.state.in_((SENT, FAILED, EXPIRED)))
    )
    failures, latencies = [], []
    for item in recent:
        if item.state == FAILED:
            failures.append((item, item.error))
        elif item.sent_at:
            latencies.append((item.sent_at - item.request.created_at).total_seconds())
    return QueueHealth(
        queued=sum(1 for item in waiting if item.state == QUEUED),
        building=sum(1 for item in waiting if item.state == BUILDING),
        oldest_waiting=min(created, default=None),
        over_sla=sum(1 for c in created if now - c > sla),
        failures=failures,
        latencies=sorted(latencies),
    )
