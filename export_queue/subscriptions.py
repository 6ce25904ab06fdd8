"""Scheduled reports: each due period of a subscription becomes ordinary export
requests (one per report kind), so delivery, retries, links and crash safety are the
pipeline's.

The database decides that a period is delivered once: its SubscriptionRun is unique
per (subscription, first day, last day) and is created in the same transaction as the requests.
Every worker's sweep may look for due subscriptions at the same moment; one wins
each period, the others meet the unique index and move on. A worker that was down
over the due time delivers the most recent missed period when it comes back, once.

Subscriptions have limits of their own, apart from a person's: an account has at most
SUBSCRIPTION_MAX_PER_ACCOUNT of them, and a period waits while the account's scheduled
requests in flight are at SCHEDULED_MAX_PENDING (a later sweep starts it, said late).
"""
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from peewee import IntegrityError

import schedules
from export_queue.intake import filters_key, in_flight_requests, lock_account
from models import Account, Agent, ExportItem, ExportRequest, Subscription, SubscriptionRun, db, utcnow
from reporting import periods
from reporting.localtime import format_local, to_local
from webguard.request_log import log_event

LATE_AFTER = timedelta(minutes=5)  # a run started this long after its due time says it was late


def in_words(schedule, after, first=True):
    """E.g. 'Every Monday at 09:00 Europe/Berlin, covering the previous Monday–Sunday;
    first on 7 December 2026 at 09:00': the schedule and its first (or next) email after `after`."""
    tz_name = current_app.config["TIMEZONE"]
    upcoming = schedules.next_run(schedule, ZoneInfo(tz_name), after)
    local = to_local(upcoming.due, tz_name)
    return f"{schedules.describe(schedule, tz_name)}; {'first' if first else 'next'} on {local:%-d %B %Y at %H:%M}"


def subscribe(account, filters, settings, max_per_account):
    """Record a subscription to `filters` with the form's `settings`, unless the account
    has `max_per_account` already (paused ones count: they may resume); None then."""
    with db.atomic():
        lock_account(account)
        if Subscription.select().where(Subscription.account == account).count() >= max_per_account:
            return None
        return Subscription.create(account=account, agents=json.dumps(list(filters.agent_ids)),
                                   channels=json.dumps(list(filters.channels)), **settings)


def subscription_summary(subscription, now=None):
    """The subscription in words, with its next email ('first' until it has sent one)."""
    ran = SubscriptionRun.select().where(SubscriptionRun.subscription == subscription).exists()
    return in_words(schedules.schedule_of(subscription), max(now or utcnow(), subscription.starts_at), first=not ran)


def active_subscriptions():
    """Subscriptions that send: not paused, and their account not disabled."""
    return (
        Subscription.select(Subscription, Account)
        .join(Account)
        .where(~Subscription.is_paused & ~Account.is_disabled)
        .order_by(Subscription.id)
    )


def due_runs(now, tz_name):
    """(subscription, run) for every active subscription whose latest due period has
    not been delivered and was due after the subscription was made (or last changed)."""
    tz = ZoneInfo(tz_name)
    for subscription in active_subscriptions():
        run = schedules.latest_run(schedules.schedule_of(subscription), tz, now)
        if run.due < subscription.starts_at:
            continue
        delivered = SubscriptionRun.select().where(
            (SubscriptionRun.subscription == subscription) & (SubscriptionRun.first_day == run.first_day)
            & (SubscriptionRun.last_day == run.last_day)
        )
        if not delivered.exists():
            yield subscription, run


def start_run(subscription, run, now, tz_name, max_pending):
    """Record the period's run and its export requests in one transaction; returns the
    items to enqueue, or None when another worker delivered this period already, or when
    the account's scheduled requests in flight leave no room for this run's
    (`max_pending`; a run always may start when none is in flight)."""
    account, kinds = subscription.account, json.loads(subscription.kinds)
    wanted = json.loads(subscription.agents)
    visible = {agent.id for agent in account.visible_agents().where(Agent.id.in_(wanted))}
    notes = []
    if now - run.due > LATE_AFTER:
        notes.append(f"Late: no worker was running at the due time ({format_local(run.due, tz_name)}), "
                     "or this account's earlier scheduled emails were still on their way.")
    left_out = [agent_id for agent_id in wanted if agent_id not in visible]
    if left_out:
        names = [a.name for a in Agent.select(Agent.name).where(Agent.id.in_(left_out)).order_by(Agent.name)]
        gone = len(left_out) - len(names)
        notes.append("Left out, no longer visible to this account: " + ", ".join(names + [f"{gone} deleted agent(s)"] * bool(gone)) + ".")
    try:
        with db.atomic() as transaction:
            lock_account(account)
            record = SubscriptionRun.create(subscription=subscription, first_day=run.first_day, last_day=run.last_day,
                                            due_at=run.due, started_at=now, note=" ".join(notes) or None)
            waiting = in_flight_requests(account, scheduled=True).count()
            if waiting and waiting + len(kinds) > max_pending:
                transaction.rollback()
                log_event("subscription_held", subscription=subscription.id, account=account.id, in_flight=waiting)
                return None
            return [item for kind in kinds for item in _request(subscription, record, kind, sorted(visible))]
    except IntegrityError:
        return None


def _request(subscription, record, kind, agent_ids):
    if not agent_ids:
        return []
    channels = sorted(json.loads(subscription.channels))
    filters = periods.Filters(tuple(agent_ids), record.first_day, record.last_day, tuple(channels))
    request = ExportRequest.create(account=subscription.account, date_from=record.first_day, date_to=record.last_day,
                                   kind=kind, channels=json.dumps(channels), filters_key=filters_key(filters, kind),
                                   subscription_run=record)
    ExportItem.insert_many([dict(request=request, agent=agent_id) for agent_id in agent_ids]).execute()
    return list(request.items)


def due_within(now, tz_name, window=timedelta(hours=24)):
    """(due time, subscription) of the active subscriptions due by `now + window`, soonest first."""
    tz = ZoneInfo(tz_name)
    upcoming = []
    for subscription in active_subscriptions():
        run = schedules.next_run(schedules.schedule_of(subscription), tz, max(now, subscription.starts_at))
        if run.due <= now + window:
            upcoming.append((run.due, subscription))
    return sorted(upcoming, key=lambda pair: (pair[0], pair[1].id))


def failed_runs(since):
    """Runs since `since` that sent nothing for an agent: a failed item, or agents left out."""
    failed = ExportItem.select(ExportItem.request).where(ExportItem.state == "failed")
    with_failures = ExportRequest.select(ExportRequest.subscription_run).where(ExportRequest.id.in_(failed))
    return list(
        SubscriptionRun.select(SubscriptionRun, Subscription, Account).join(Subscription).join(Account)
        .where((SubscriptionRun.started_at >= since)
               & (SubscriptionRun.id.in_(with_failures) | SubscriptionRun.note.contains("Left out")))
        .order_by(SubscriptionRun.started_at.desc())
    )


def deliver_due(now, tz_name, max_pending):
    """Start every due run this worker wins and its account has room for (`max_pending`
    scheduled requests in flight); returns the export items to enqueue."""
    items = []
    for subscription, run in list(due_runs(now, tz_name)):
        items.extend(start_run(subscription, run, now, tz_name, max_pending) or [])
    return items
