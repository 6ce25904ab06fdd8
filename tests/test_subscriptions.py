"""Scheduled reports delivered by the sweep: once per period whoever looks, late once
after downtime, never for a period due before the subscription, only agents the
account still sees. (The due-time rules themselves: test_schedules.py.)"""
import json
import threading
from datetime import datetime, timedelta

import pytest

from export_queue import subscriptions
from models import Account, ExportRequest, Grant, Subscription, SubscriptionRun, db

TZ = "Europe/Berlin"
CREATED = datetime(2026, 12, 1, 6, 0)  # 07:00 in Berlin, a Tuesday
DUE = datetime(2026, 12, 1, 8, 0)  # 09:00 in Berlin


@pytest.fixture
def subscription(app, people):
    with app.app_context():
        analyst = Account.get(Account.email == "analyst@example.com")
        return Subscription.create(account=analyst, kinds=json.dumps(["stop-slots", "slot-funnel"]),
                                   agents=json.dumps([people["support"].id]), frequency="daily", at="09:00",
                                   starts_at=CREATED, created_at=CREATED)


def deliver(now):
    return subscriptions.deliver_due(now, TZ)


def test_a_due_period_becomes_one_request_per_kind_once(app, subscription):
    with app.app_context():
        assert deliver(DUE - timedelta(minutes=1)) == []  # due at 09:00, not before
        items = deliver(DUE)
        assert len(items) == 2
        requests = list(ExportRequest.select().order_by(ExportRequest.kind))
        assert [(r.kind, r.date_from.isoformat(), r.date_to.isoformat()) for r in requests] == [
            ("slot-funnel", "2026-11-30", "2026-11-30"), ("stop-slots", "2026-11-30", "2026-11-30")]
        assert all(r.subscription_run.subscription_id == subscription.id for r in requests)
        assert deliver(DUE + timedelta(minutes=1)) == [] and deliver(DUE + timedelta(hours=5)) == []
        assert SubscriptionRun.get().note is None
        assert len(deliver(DUE + timedelta(days=1))) == 2  # the next day's period


def test_many_workers_looking_at_once_deliver_a_period_once(app, subscription):
    """Every worker's sweep runs at the same minute; each has its own connection."""
    results, barrier = [], threading.Barrier(8)

    def worker():
        with app.app_context(), db.connection_context():
            barrier.wait()
            results.append(len(deliver(DUE)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0] * 7 + [2]
    with app.app_context():
        assert SubscriptionRun.select().count() == 1 and ExportRequest.select().count() == 2


def test_after_downtime_the_latest_missed_period_is_sent_once_and_said_late(app, subscription):
    with app.app_context():
        back = DUE + timedelta(days=3, hours=2)  # workers down since before the first due time
        assert len(deliver(back)) == 2
        run = SubscriptionRun.get()
        assert (run.first_day.isoformat(), run.due_at) == ("2026-12-03", DUE + timedelta(days=3))
        assert run.note.startswith("Late: no worker was running at the due time (2026-12-04 09:00 CET")
        assert deliver(back + timedelta(minutes=1)) == []


def test_a_period_due_before_the_subscription_is_not_sent(app, subscription):
    with app.app_context():
        Subscription.update(starts_at=DUE + timedelta(hours=1)).execute()
        assert deliver(DUE + timedelta(hours=2)) == []
        assert len(deliver(DUE + timedelta(days=1))) == 2


def test_paused_subscriptions_and_disabled_accounts_get_nothing(app, subscription):
    with app.app_context():
        Subscription.update(is_paused=True).execute()
        assert deliver(DUE) == []
        Subscription.update(is_paused=False).execute()
        Account.update(is_disabled=True).where(Account.id == subscription.account_id).execute()
        assert deliver(DUE) == []


def test_an_agent_no_longer_granted_is_left_out_and_said_so(app, subscription, people):
    with app.app_context():
        Subscription.update(agents=json.dumps([people["support"].id, people["sales"].id])).execute()
        Grant.delete().execute()
        assert deliver(DUE) == []
        run = SubscriptionRun.get()
        assert run.note == "Left out, no longer visible to this account: Sales Bot, Support Bot."
        assert ExportRequest.select().count() == 0
