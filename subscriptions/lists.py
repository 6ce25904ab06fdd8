"""The subscriptions an admin keeps an eye on: which send, which are due soon, which runs failed."""
from datetime import timedelta
from zoneinfo import ZoneInfo

from models import Account, ExportItem, ExportRequest, Subscription, SubscriptionRun
from subscriptions import notes, schedules


def active_subscriptions():
    """Subscriptions that send: not paused, and their account not disabled."""
    return (
        Subscription.select(Subscription, Account)
        .join(Account)
        .where(~Subscription.is_paused & ~Account.is_disabled)
        .order_by(Subscription.id)
    )


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
               & (SubscriptionRun.id.in_(with_failures) | SubscriptionRun.note.contains(notes.LEFT_OUT.lead)))
        .order_by(SubscriptionRun.started_at.desc())
    )
