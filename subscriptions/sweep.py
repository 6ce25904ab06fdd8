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

from peewee import IntegrityError

from access.visibility import visible_agents
from export_queue.intake import filters_key, in_flight_requests, lock_account
from database import db
from models import Agent, ExportItem, ExportRequest, Subscription, SubscriptionRun
from reporting import periods
from subscriptions import notes, schedules
from subscriptions.lists import active_subscriptions
from webguard.request_log import log_event

LATE_AFTER = timedelta(minutes=5)  # a run started this long after its due time says it was late


def subscribe(account, filters, settings, max_per_account):
    """Record a subscription to `filters` with the form's `settings`, unless the account
    has `max_per_account` already (paused ones count: they may resume); None then."""
    with db.atomic():
        lock_account(account)
        if Subscription.select().where(Subscription.account == account).count() >= max_per_account:
            return None
        return Subscription.create(account=account, agents=json.dumps(list(filters.agent_ids)),
                                   channels=json.dumps(list(filters.channels)),
                                   outcomes=json.dumps(list(filters.outcomes)), **settings)


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
    visible = {agent.id for agent in visible_agents(account).where(Agent.id.in_(wanted))}
    left_out = [agent_id for agent_id in wanted if agent_id not in visible]
    names = [a.name for a in Agent.select(Agent.name).where(Agent.id.in_(left_out)).order_by(Agent.name)] if left_out else []
    note = notes.note(due=run.due if now - run.due > LATE_AFTER else None, tz_name=tz_name, names=names,
                      deleted=len(left_out) - len(names))
    try:
        with db.atomic() as transaction:
            lock_account(account)
            record = SubscriptionRun.create(subscription=subscription, first_day=run.first_day, last_day=run.last_day,
                                            due_at=run.due, started_at=now, note=note)
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
    outcomes = json.loads(subscription.outcomes)
    filters = periods.Filters(tuple(agent_ids), record.first_day, record.last_day, tuple(channels), tuple(outcomes))
    request = ExportRequest.create(account=subscription.account, date_from=record.first_day, date_to=record.last_day,
                                   kind=kind, channels=json.dumps(channels), outcomes=json.dumps(outcomes), filters_key=filters_key(filters, kind),
                                   subscription_run=record)
    ExportItem.insert_many([dict(request=request, agent=agent_id) for agent_id in agent_ids]).execute()
    return list(request.items)


def deliver_due(now, tz_name, max_pending):
    """Start every due run this worker wins and its account has room for (`max_pending`
    scheduled requests in flight); returns the export items to enqueue."""
    items = []
    for subscription, run in list(due_runs(now, tz_name)):
        items.extend(start_run(subscription, run, now, tz_name, max_pending) or [])
    return items
