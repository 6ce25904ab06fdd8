"""Alerts, checked by the sweep once per period: they fire at their threshold and not
a hundredth below it, honour the minimum dialogs and significance, send nothing for no
data or for a failure to compute (which is retried and shown), survive the mail
server's refusals, never switch themselves off, and pause and resume. Three real
workers racing: tests/test_end_to_end.py."""
import json
import smtplib
from datetime import date, datetime, timedelta

import pytest
from peewee import OperationalError

from alerts import checks, delivery, watching
from comparison.changes import Fraction
from extensions import mail
from ingest import writer
from models import Account, Alert, AlertRun, Grant
from tests.conftest import csrf_token, make_agent
from tests.test_comparison import SLOTS, dialogs_on

TZ = "Europe/Berlin"
DUE = datetime(2026, 12, 1, 8, 0)  # 09:00 in Berlin: the daily check of 30 November against 29 November


@pytest.fixture
def shop_bot(app):
    """29 Nov: 40 dialogs, 10 stop at Ask order (25%). 30 Nov: 40 dialogs, 30 stop there (75%)."""
    app.config["TIMEZONE"] = TZ
    with app.app_context():
        agent = make_agent("Shop Bot")[0]
        writer.upsert_slots(agent, SLOTS)
        writer.ingest_events(agent, [
            *dialogs_on(date(2026, 11, 29), 10, "then-ask", "ask"), *dialogs_on(date(2026, 11, 29), 30, "then-pay", "pay"),
            *dialogs_on(date(2026, 11, 30), 30, "now-ask", "ask"), *dialogs_on(date(2026, 11, 30), 10, "now-pay", "pay"),
        ])
    return agent


def make_alert(agent, email="analyst@example.com", **settings):
    account = Account.get_or_none(Account.email == email) or Account.create(email=email, password_hash="-")
    Grant.get_or_create(account=account, agent=agent)
    fields = dict(watch="exit-rate", direction="rises", threshold=500, min_dialogs=30, only_significant=True,
                  frequency="daily", at="09:00")
    fields.update(settings)
    return Alert.create(account=account, agents=json.dumps([agent.id]), **fields)


def sweep(now=DUE):
    """One worker's sweep at `now` (tasks.sweep's alert steps): the runs it recorded
    to email; they, and any email left unsent, are sent."""
    found = checks.check_due(now, TZ)
    for run_id in sorted({run.id for run in found} | set(delivery.unsent(now))):
        delivery.send(run_id)
    return found


def test_a_regression_fires_once_per_period_and_lists_the_change(app, shop_bot):
    with app.app_context(), mail.record_messages() as outbox:
        make_alert(shop_bot)
        assert sweep(DUE - timedelta(minutes=1)) == [], "29 Nov has nothing before it to compare with"
        assert AlertRun.get().note == "no data for Shop Bot, 28 Nov"
        assert len(sweep()) == 1
        assert sweep() == [] and sweep(DUE + timedelta(hours=3)) == [], "a period is checked once"
        assert len(outbox) == 1
        message = outbox[0]
        assert message.subject == "Exit rate rose at Ask order of Shop Bot, 30 Nov"
        assert message.recipients == ["analyst@example.com"]
        body = message.body
        assert "Exit rate of each slot rises by at least 5.00 pp: 30 Nov vs 29 Nov" in body
        assert "Shop Bot · Ask order\n  before 25.00%, now 75.00%, change +50.00 pp (40 dialogs; 40 before)" in body
        assert "The 30 dialogs behind it: http://slotlens.test/dialogs?" in body
        assert "date_from=2026-11-30" in body and "stop_slot=ask" in body and "Payment" not in body
        assert "It stays on until you pause or delete it" in body
        run = AlertRun.get(AlertRun.first_day == date(2026, 11, 30))
        assert (run.state, run.first_day, run.last_day) == ("sent", date(2026, 11, 30), date(2026, 11, 30))
        assert not Alert.get().is_paused, "an alert never switches itself off"


def test_many_workers_checking_at_once_record_a_period_once(app, shop_bot):
    """Each with its own connection; on PostgreSQL, READ COMMITTED lets them all
    evaluate, and the unique index lets one record."""
    import threading

    from database import db

    with app.app_context():
        make_alert(shop_bot)
    results, barrier = [], threading.Barrier(6)

    def worker():
        with app.app_context(), db.connection_context():
            barrier.wait()
            results.append(len(checks.check_due(DUE, TZ)))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0] * 5 + [1]
    with app.app_context():
        assert AlertRun.select().count() == 1


def test_after_downtime_the_latest_period_is_checked_once(app, shop_bot):
    with app.app_context():
        make_alert(shop_bot)
        assert sweep(DUE + timedelta(days=3, hours=5)) == []  # back on 4 December: 3 Dec has no data
        assert [(run.first_day, run.note) for run in AlertRun.select()] == [(date(2026, 12, 3), "no data for Shop Bot, 3 Dec and 2 Dec")]


@pytest.mark.parametrize("threshold, fires", [(5000, True), (4999, True), (5001, False)], ids=["at", "below", "a hundredth above"])
def test_the_threshold_is_inclusive_to_the_hundredth(app, shop_bot, threshold, fires):
    with app.app_context():
        make_alert(shop_bot, threshold=threshold)
        assert bool(sweep()) is fires
        assert AlertRun.select().count() == 1, "checked either way, once"


def test_the_exact_boundary_holds_for_thirds():
    rate = watching.Rate(1, "Bot", "ask", "Ask", 2, 3, 1, 3)  # 66.67% from 33.33%: +33.333… pp
    assert watching.crossed(rate, "rises", 3333, 1, False) and not watching.crossed(rate, "rises", 3334, 1, False)
    assert not watching.crossed(rate, "falls", 1, 1, False)
    assert watching.crossed(watching.Rate(1, "Bot", None, None, 1, 3, 2, 3), "falls", 3333, 1, False)
    assert Fraction(3333, 100) < 100 * (Fraction(2, 3) - Fraction(1, 3))


def test_an_agent_no_longer_granted_is_left_out(app, shop_bot):
    with app.app_context(), mail.record_messages() as outbox:
        alert = make_alert(shop_bot)
        Grant.delete().where(Grant.account == alert.account).execute()
        assert sweep() == [] and outbox == []


def test_minimum_dialogs_and_significance_are_honoured(app, shop_bot):
    with app.app_context():
        make_alert(shop_bot, min_dialogs=41)  # Ask order was reached by 40 each day
        assert sweep() == [] and AlertRun.get().state == "quiet"
    rate = watching.Rate(1, "Bot", "ask", "Ask", 20, 29, 5, 29)  # +51.7 pp, but 29 dialogs: never significant
    assert not watching.crossed(rate, "rises", 500, 1, True) and watching.crossed(rate, "rises", 500, 1, False)


def test_no_data_sends_nothing_and_says_so(app, shop_bot):
    with app.app_context(), mail.record_messages() as outbox:
        empty = make_agent("Quiet Bot")[0]
        make_alert(empty)
        assert sweep(DUE + timedelta(days=2)) == []  # 2 December: no dialogs on 1 or 2 December... of Quiet Bot at all
        assert outbox == []
        assert AlertRun.get().note == "no data for Quiet Bot, 2 Dec and 1 Dec"


def test_a_failure_to_compute_sends_nothing_is_shown_and_retried(app, shop_bot, monkeypatch, client, auth, people):
    with app.app_context(), mail.record_messages() as outbox:
        alert = make_alert(shop_bot)

        def broken(*args):
            raise OperationalError("could not connect to server")

        monkeypatch.setattr("reporting.kinds.slot_funnel.funnel", broken)
        assert sweep() == [] and sweep() == []
        assert outbox == [] and AlertRun.select().count() == 0
        failing = Alert.get_by_id(alert.id)
        assert "could not be computed (OperationalError)" in failing.last_error and failing.failing_since == DUE
    auth.login("analyst@example.com")
    page = client.get("/subscriptions").get_data(as_text=True)
    assert "The last check could not be computed (OperationalError); the worker tries again every minute." in page
    assert "could not connect" not in page
    monkeypatch.undo()
    with app.app_context(), mail.record_messages() as outbox:
        assert len(sweep(DUE + timedelta(minutes=1))) == 1 and len(outbox) == 1
        assert Alert.get_by_id(alert.id).last_error is None
    assert "could not be computed" not in client.get("/subscriptions").get_data(as_text=True)


@pytest.mark.parametrize("code, state", [(451, "queued"), (550, "failed")])
def test_the_mail_server_refusing_is_retried_or_failed_never_lost(app, shop_bot, monkeypatch, code, state):
    hand_over = delivery.hand_over
    with app.app_context():
        make_alert(shop_bot)

        def refuse(message):
            raise smtplib.SMTPResponseException(code, b"not now" if code < 500 else b"no such user")

        monkeypatch.setattr(delivery, "hand_over", refuse)
        monkeypatch.setattr(delivery.send_alert, "schedule", lambda **kwargs: None)
        monkeypatch.setattr(delivery, "utcnow", lambda: DUE + timedelta(seconds=1))  # checked a second ago
        sweep()
        run = AlertRun.get()
        assert run.state == state and f"answered {code}" in run.error
        if state == "queued":
            assert run.not_before > run.checked_at
            monkeypatch.setattr(delivery, "hand_over", hand_over)
            with mail.record_messages() as outbox:
                delivery.send(run.id)
                assert delivery.unsent(run.not_before - timedelta(seconds=1)) == [], "claimable only once its retry is due"
                assert delivery.unsent(run.not_before) == [run.id], "and then the sweep queues it again if its message was lost"
            assert outbox == []  # not due yet
            AlertRun.update(not_before=None).execute()
            with mail.record_messages() as outbox:
                delivery.send(run.id)
                delivery.send(run.id)
            assert len(outbox) == 1 and AlertRun.get().state == "sent"


def test_alert_me_pause_resume_edit_and_delete(app, shop_bot, client, auth, people, monkeypatch):
    monkeypatch.setattr("alerts.checks.utcnow", lambda: DUE)
    auth.login("analyst@example.com")
    with app.app_context():
        analyst = Account.get(Account.email == "analyst@example.com")
        Grant.create(account=analyst, agent=shop_bot)
    token = csrf_token(client, "/analytics")
    form = {"agents": str(shop_bot.id), "date_from": "2026-11-01", "date_to": "2026-11-30", "action": "alert",
            "alert-watch": "exit-rate", "alert-direction": "rises", "alert-threshold": "50", "alert-min_dialogs": "30",
            "alert-only_significant": "y", "alert-frequency": "daily", "alert-weekday": "0", "alert-at": "09:00", "csrf_token": token}
    for field, value, error in (
        ("alert-threshold", "0", "Pick between 0.01 and 100 percentage points, with at most two decimals."),
        ("alert-threshold", "2.555", "Pick between 0.01 and 100 percentage points, with at most two decimals."),
        ("alert-threshold", "sNaN", "Pick between 0.01 and 100 percentage points, with at most two decimals."),
        ("alert-threshold", "", "Say by how many percentage points, e.g. 5."),
        ("alert-min_dialogs", "0", "Pick a whole number of dialogs from 1 to 10,000,000."),
        ("alert-watch", "mood", "Not a valid choice."),
        ("alert-frequency", "hourly", "Not a valid choice."),
    ):
        refused = client.post("/analytics", data={**form, field: value})
        assert refused.status_code == 200 and error in refused.get_data(as_text=True), (field, value)
    refused = client.post("/analytics", data={**form, "alert-threshold": "0", "csrf_token": csrf_token(client, "/analytics")}).get_data(as_text=True)
    assert 'aria-invalid="true" autofocus id="alert-threshold"' in refused, "the eye lands on the mistake"
    assert '<details class="subscribe alert-me" open>' in refused
    with app.app_context():
        assert Alert.select().count() == 0
    with mail.record_messages() as outbox:
        made = client.post("/analytics", data=form, follow_redirects=True).get_data(as_text=True)
    assert "Alert made: Exit rate of each slot rises by at least 50.00 pp, checked every day at 09:00 Europe/Berlin." in made
    assert [m.subject for m in outbox] == ["Exit rate rose at Ask order of Shop Bot, 30 Nov"], "checked at once"
    assert "Last check: 30 Nov: 1 change crossed the threshold, emailed" in made
    with app.app_context():
        alert = Alert.get()
        assert (alert.threshold, alert.min_dialogs, alert.only_significant) == (5000, 30, True)
    edit_page = client.get(f"/alerts/{alert.id}/edit").get_data(as_text=True)
    assert "<h1>Change alert</h1>" in edit_page and 'value="50.00"' in edit_page
    client.post(f"/alerts/{alert.id}/pause", data={"csrf_token": token})
    assert "<strong>Paused.</strong> Once resumed, checked every day" in client.get("/subscriptions").get_data(as_text=True)
    with app.app_context():
        assert checks.check_due(DUE + timedelta(days=1), TZ) == [] and AlertRun.select().count() == 1
    edit = client.post(f"/alerts/{alert.id}/edit", data={"csrf_token": token, "alert-watch": "exit-rate", "alert-direction": "falls",
                                                         "alert-threshold": "10", "alert-min_dialogs": "5", "alert-frequency": "weekly",
                                                         "alert-weekday": "0", "alert-at": "08:30"}, follow_redirects=True)
    assert "Alert changed: Exit rate of each slot falls by at least 10.00 pp." in edit.get_data(as_text=True)
    client.post(f"/alerts/{alert.id}/resume", data={"csrf_token": token})
    with app.app_context():
        stored = Alert.get()
        assert (stored.is_paused, stored.frequency, stored.only_significant, stored.at) == (False, "weekly", False, "08:30")
    auth.login("admin@example.com")
    assert client.post(f"/alerts/{alert.id}/delete", data={"csrf_token": csrf_token(client, "/subscriptions")}).status_code == 404
    auth.login("analyst@example.com")
    client.post(f"/alerts/{alert.id}/delete", data={"csrf_token": csrf_token(client, "/subscriptions")})
    refused = client.post("/analytics", data={**form, "alert-threshold": "0", "csrf_token": csrf_token(client, "/analytics")}).get_data(as_text=True)
    assert 'aria-invalid="true" autofocus id="alert-threshold"' in refused, "the eye lands on the mistake"
    assert '<details class="subscribe alert-me" open>' in refused
    with app.app_context():
        assert Alert.select().count() == 0 and AlertRun.select().count() == 0


def test_a_subscription_email_ends_with_the_comparison_with_the_period_before(app, shop_bot):
    from export_queue.delivery import process_item
    from models import Subscription
    from outcomes import recompute
    from outcomes import rules as outcome_rules
    from subscriptions.sweep import deliver_due

    with app.app_context(), mail.record_messages() as outbox:
        version = recompute.save(shop_bot, outcome_rules.from_yaml("- {outcome: Completed, ends_at: pay}\n", {"ask": "question", "pay": "question"}))
        recompute.recompute(shop_bot.id, version)
        analyst = Account.create(email="analyst@example.com", password_hash="-")
        Subscription.create(account=analyst, kinds=json.dumps(["stop-slots"]), agents=json.dumps([shop_bot.id]),
                            frequency="daily", at="09:00", starts_at=DUE - timedelta(hours=1))
        Grant.create(account=analyst, agent=shop_bot)
        for item in deliver_due(DUE, TZ, 60):
            process_item(item.id)
    assert len(outbox) == 1
    assert ("Compared with the period before (30 Nov vs 29 Nov):\n"
            "  Counted dialogs: 40 (was 40, ±0%)\n"
            "  Containment:     100.00% (was 100.00%, ±0 pp)\n"
            "  Completion:      25.00% (was 75.00%, \u221250.00 pp, significant)\n") in outbox[0].body, outbox[0].body
    assert "▼ significant" in outbox[0].html
