"""Scheduled reports delivered by the sweep: once per period whoever looks, late once
after downtime, never for a period due before the subscription, only agents the
account still sees. (The due-time rules themselves: test_schedules.py.)"""
import json
import re
import threading
from datetime import datetime, timedelta

import pytest
from peewee import IntegrityError

from database import db
from models import Account, ExportRequest, Grant, Subscription, SubscriptionRun
from subscriptions import sweep
from tests.conftest import Auth, csrf_token

TZ = "Europe/Berlin"
CREATED = datetime(2026, 12, 1, 6, 0)  # 07:00 in Berlin, a Tuesday
DUE = datetime(2026, 12, 1, 8, 0)  # 09:00 in Berlin


@pytest.fixture
def subscription(app, people):
    app.config["TIMEZONE"] = TZ
    with app.app_context():
        analyst = Account.get(Account.email == "analyst@example.com")
        return Subscription.create(account=analyst, kinds=json.dumps(["stop-slots", "slot-funnel"]),
                                   agents=json.dumps([people["support"].id]), frequency="daily", at="09:00",
                                   starts_at=CREATED, created_at=CREATED)


def deliver(now, max_pending=60):
    return sweep.deliver_due(now, TZ, max_pending)


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


# --- the form on the EXPORT panel, /subscriptions, and the email ---------------

def subscribe(client, **fields):
    data = {"agents": ["1"], "date_from": "2026-12-01", "date_to": "2026-12-07", "action": "subscribe",
            "kinds": ["stop-slots"], "frequency": "weekly", "weekday": "0", "day": "1", "at": "09:00", **fields}
    return client.post("/analytics", data={**data, "csrf_token": csrf_token(client, "/analytics")})


def test_email_me_regularly_makes_a_subscription_and_says_when_it_first_comes(app, client, auth, people, monkeypatch):
    auth.login("analyst@example.com")
    monkeypatch.setattr("subscriptions.wording.utcnow", lambda: datetime(2026, 12, 2, 12, 0))  # a Wednesday
    response = subscribe(client, skip_empty="y")
    assert response.status_code == 302 and response.headers["Location"].endswith("/subscriptions")
    page = client.get("/subscriptions").get_data(as_text=True)
    assert "Every Monday at 09:00 UTC, covering the previous Monday–Sunday; first on 7 December 2026 at 09:00" in page
    assert "Stop slots" in page and "Support Bot" in page and "empty reports are skipped" in page
    with app.app_context():
        stored = Subscription.get()
        assert (stored.frequency, stored.weekday, stored.at, stored.skip_empty, json.loads(stored.agents)) == ("weekly", 0, "09:00", True, [people["support"].id])


def test_a_subscription_form_with_mistakes_shows_them_beside_the_fields(app, client, auth, people):
    auth.login("analyst@example.com")
    response = subscribe(client, kinds=[], day="31", at="")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Pick at least one report." in page and "Pick a day from 1 to 28" in page and "Pick a time of day" in page
    assert "<details class=\"subscribe\" open>" in page
    assert '<input autofocus id="kinds-0" name="kinds" type="checkbox" value="stop-slots">' in page, "the eye lands on the first mistake"
    assert page.count("autofocus") == 1
    with app.app_context():
        assert Subscription.select().count() == 0


@pytest.mark.parametrize("view", ["stop-slots", "slot-funnel", "slot-paths"])
def test_the_form_offers_the_report_the_page_shows(client, auth, people, view):
    auth.login("analyst@example.com")
    page = client.get(f"/analytics?view={view}").get_data(as_text=True)
    checked = re.findall(r'<input checked id="kinds-\d" name="kinds" type="checkbox" value="([\w-]+)">', page)
    assert checked == [view]


def test_editing_a_paused_subscription_says_it_is_paused_not_when_it_comes(app, client, auth, people, subscription):
    auth.login("analyst@example.com")
    token = csrf_token(client, "/subscriptions")
    client.post(f"/subscriptions/{subscription.id}/pause", data={"csrf_token": token})
    assert "<strong>Paused.</strong> It sends nothing until you resume it" in client.get(f"/subscriptions/{subscription.id}/edit").get_data(as_text=True)
    saved = client.post(f"/subscriptions/{subscription.id}/edit", follow_redirects=True, data={
        "csrf_token": token, "kinds": ["stop-slots"], "frequency": "daily", "weekday": "0", "day": "1", "at": "08:00"})
    flashed = re.search(r"Subscription changed\.[^<]*", saved.get_data(as_text=True)).group(0)
    assert "Paused until you resume it" in flashed and "first on" not in flashed and "next on" not in flashed


def test_pause_resume_and_delete_only_ones_own(app, client, auth, people, subscription, monkeypatch):
    monkeypatch.setattr("blueprints.subscriptions.utcnow", lambda: DUE + timedelta(minutes=30))
    auth.login("admin@example.com")  # not the subscription's account
    token = csrf_token(client, "/subscriptions")
    assert client.post(f"/subscriptions/{subscription.id}/pause", data={"csrf_token": token}).status_code == 404
    client.post("/logout", data={"csrf_token": token})
    auth.login("analyst@example.com")
    token = csrf_token(client, "/subscriptions")
    client.post(f"/subscriptions/{subscription.id}/pause", data={"csrf_token": token})
    assert "Paused." in client.get("/subscriptions").get_data(as_text=True)
    with app.app_context():
        assert deliver(DUE) == []
    client.post(f"/subscriptions/{subscription.id}/resume", data={"csrf_token": token})
    with app.app_context():
        assert deliver(DUE) == []  # resumed now: the period due while paused is not sent
        assert Subscription.get().starts_at > DUE
    client.post(f"/subscriptions/{subscription.id}/delete", data={"csrf_token": token})
    with app.app_context():
        assert Subscription.select().count() == 0


def test_the_email_names_the_subscription_and_links_to_it(app, subscription):
    from extensions import mail
    from tasks import process_export_item

    with app.app_context(), mail.record_messages() as outbox:
        for item in deliver(DUE):
            process_export_item(item.id)
    assert len(outbox) == 2
    assert ") — 2 sent" in client_page(app, "/subscriptions")
    body = outbox[0].body
    assert "sent by your subscription: Every day at 09:00 Europe/Berlin, covering the day before." in body
    assert "http://slotlens.test/subscriptions" in body


def test_a_scheduled_email_carries_the_top_rows_of_its_report(app, subscription, people):
    """Numbers a person can forward: the report's first five rows, as in its file."""
    from extensions import mail
    from ingest import rules, writer
    from tasks import process_export_item

    noon = datetime(2026, 11, 30, 11, 0)  # the day the run covers, in Berlin
    stops = {"a": 4, "b": 3, "c": 2, "d": 2, "e": 1, "f": 1}
    with app.app_context():
        writer.upsert_slots(people["support"], [rules.SlotIn(key, f"Slot {key.upper()}", "question", "") for key in stops])
        writer.ingest_events(people["support"], [rules.EventIn(f"{key}-{n}", "web", "user", key, "hi", noon)
                                                 for key, count in stops.items() for n in range(count)])
        with mail.record_messages() as outbox:
            for item in deliver(DUE):
                process_export_item(item.id)
    stop_slots = next(message for message in outbox if message.subject.startswith("Stop slots"))
    assert "The top 5 rows:\n  Slot name | Dialogs | Share (%)\n  Slot A | 4 | 30.77\n  Slot B | 3 | 23.08\n" in stop_slots.body
    assert "Slot E | 1" in stop_slots.body and "Slot F" not in stop_slots.body.split("Download the CSV")[0]
    assert '<th scope="col" style="text-align:left;padding:4px 12px 4px 0;border-bottom:1px solid #d9e2ec;">Dialogs</th>' in stop_slots.html
    funnel = next(message for message in outbox if message.subject.startswith("Slot funnel"))
    assert "Slot name | Reached | Times shown | Stopped | Exit rate (%) | Reach (%)" in funnel.body


def test_skip_empty_leaves_out_an_empty_agents_email_only(app, subscription, people):
    from extensions import mail
    from ingest import rules, writer
    from models import ExportItem
    from tasks import process_export_item

    with app.app_context():
        Subscription.update(skip_empty=True, kinds=json.dumps(["stop-slots"]),
                            agents=json.dumps([people["support"].id, people["sales"].id])).execute()
        Grant.create(account=subscription.account, agent=people["sales"])
        writer.ingest_events(people["sales"], [rules.EventIn("d", "web", "user", None, "hi", datetime(2026, 11, 30, 12))])
        with mail.record_messages() as outbox:
            for item in deliver(DUE):
                process_export_item(item.id)
        assert [m.subject for m in outbox] == ["Stop slots report: Sales Bot, 2026-11-30 – 2026-11-30"]
        states = {item.agent.name: (item.state, item.dialogs) for item in ExportItem.select()}
        assert states == {"Sales Bot": ("sent", 1), "Support Bot": ("skipped", 0)}


def test_edit_changes_what_and_when_for_the_owner_only(app, client, auth, people, subscription, monkeypatch):
    """The sweep after the edit sends the new reports for the new period, at the new time,
    though that period starts on the day the old one last sent."""
    sent_before = datetime(2026, 10, 2, 7, 0)  # 09:00 in Berlin (summer time): the daily run covering 1 October
    with app.app_context():
        Subscription.update(starts_at=sent_before - timedelta(days=1)).execute()
        assert len(deliver(sent_before)) == 2
    edited = datetime(2026, 10, 3, 10, 0)  # after 07:30 on the 3rd: the first monthly run covers October
    monkeypatch.setattr("blueprints.subscriptions.utcnow", lambda: edited)
    auth.login("admin@example.com")
    assert client.get(f"/subscriptions/{subscription.id}/edit").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/subscriptions")})
    auth.login("analyst@example.com")
    page = client.get(f"/subscriptions/{subscription.id}/edit").get_data(as_text=True)
    assert 'name="at" required type="time" value="09:00"' in page
    assert '<input checked id="kinds-1" name="kinds" type="checkbox" value="slot-funnel">' in page
    token = csrf_token(client, f"/subscriptions/{subscription.id}/edit")
    bad = client.post(f"/subscriptions/{subscription.id}/edit", data={"csrf_token": token, "kinds": ["stop-slots"],
                      "frequency": "monthly", "weekday": "0", "day": "29", "at": "07:30"})
    assert bad.status_code == 400 and "Pick a day from 1 to 28" in bad.get_data(as_text=True)
    good = client.post(f"/subscriptions/{subscription.id}/edit", data={"csrf_token": token, "kinds": ["slot-paths"],
                       "frequency": "monthly", "weekday": "0", "day": "3", "at": "07:30"})
    assert good.status_code == 302
    assert "On day 3 of every month at 07:30 Europe/Berlin, covering the previous month" in client.get("/subscriptions").get_data(as_text=True)
    new_due = datetime(2026, 11, 3, 6, 30)  # 07:30 in Berlin
    with app.app_context():
        stored = Subscription.get()
        assert (json.loads(stored.kinds), stored.frequency, stored.day, stored.at) == (["slot-paths"], "monthly", 3, "07:30")
        assert deliver(edited + timedelta(minutes=30)) == [] and deliver(new_due - timedelta(minutes=1)) == []
        assert len(deliver(new_due)) == 1
        latest = ExportRequest.select().order_by(ExportRequest.id.desc()).get()
        assert (latest.kind, latest.date_from.isoformat(), latest.date_to.isoformat()) == ("slot-paths", "2026-10-01", "2026-10-31")


@pytest.mark.parametrize("before, after, sent, edited, due, period", [
    ("daily", dict(frequency="weekly", weekday="0"), "2026-06-02 07:00", "2026-06-03 10:00", "2026-06-08 07:00", "2026-06-01 – 2026-06-07"),
    ("daily", dict(frequency="monthly", day="1"), "2026-06-02 07:00", "2026-06-03 10:00", "2026-07-01 07:00", "2026-06-01 – 2026-06-30"),
    ("weekly", dict(frequency="monthly", day="1"), "2026-06-08 07:00", "2026-06-09 10:00", "2026-07-01 07:00", "2026-06-01 – 2026-06-30"),
], ids=["daily-to-weekly", "daily-to-monthly", "weekly-to-monthly"])
def test_an_edited_subscription_sends_its_next_period_though_it_starts_where_a_sent_one_did(
        app, client, auth, subscription, monkeypatch, before, after, sent, edited, due, period):
    """1 June 2026 is a Monday; 09:00 in Berlin is 07:00 UTC in summer. The period after
    the edit begins on the first day of one already sent, and is sent all the same."""
    sent, edited, due = (datetime.fromisoformat(moment) for moment in (sent, edited, due))
    from extensions import mail
    from tasks import process_export_item

    with app.app_context():
        Subscription.update(frequency=before, weekday=0, starts_at=datetime(2026, 5, 31)).execute()
        assert len(deliver(sent)) == 2
    monkeypatch.setattr("blueprints.subscriptions.utcnow", lambda: edited)
    monkeypatch.setattr("subscriptions.wording.utcnow", lambda: edited)
    auth.login("analyst@example.com")
    form = {"kinds": ["stop-slots"], "weekday": "0", "day": "1", "at": "09:00", **after}
    assert auth.post(f"/subscriptions/{subscription.id}/edit", form, form_page="/subscriptions").status_code == 302
    assert f"next on {due.day} {due:%B %Y} at 09:00" in client.get("/subscriptions").get_data(as_text=True)
    with app.app_context(), mail.record_messages() as outbox:
        assert deliver(due - timedelta(minutes=1)) == []
        for item in deliver(due):
            process_export_item(item.id)
    assert [message.subject for message in outbox] == [f"Stop slots report: Support Bot, {period}"]


def test_upgrading_makes_a_run_unique_per_whole_period(app, runner, subscription):
    """A database whose runs are unique per first day alone gets the index a new database has."""
    from database import migrations
    from database.migrations import v15_index_runs_by_whole_period

    def period_indexes():
        return [(index.name, tuple(index.columns), index.unique)
                for index in db.get_indexes("subscription_run") if "first_day" in index.columns]

    with app.app_context():
        new = period_indexes()
        for name, _, _ in new:
            db.execute_sql(f'DROP INDEX "{name}"')
        db.execute_sql('CREATE UNIQUE INDEX "subscriptionrun_subscription_id_first_day" ON subscription_run (subscription_id, first_day)')
        migrations.SchemaVersion.update(version=migrations.MIGRATIONS.index(v15_index_runs_by_whole_period) + 1).execute()
    assert runner.invoke(args=["upgrade-db"]).exit_code == 0
    with app.app_context():
        assert period_indexes() == new and [index[1:] for index in new] == [(("subscription_id", "first_day", "last_day"), True)]
        day, week = (dict(subscription=subscription, first_day=datetime(2026, 6, 1).date(), last_day=datetime(2026, 6, last).date(),
                          due_at=DUE) for last in (1, 7))
        SubscriptionRun.create(**day)
        SubscriptionRun.create(**week)
        with pytest.raises(IntegrityError), db.atomic():
            SubscriptionRun.create(**week)


def test_admins_see_what_is_due_in_the_next_24_hours_and_what_failed(app, client, auth, people, subscription, monkeypatch):
    from subscriptions.lists import due_within

    monkeypatch.setattr("blueprints.admin.utcnow", lambda: DUE + timedelta(hours=1))
    with app.app_context():
        assert [(due, s.id) for due, s in due_within(DUE - timedelta(hours=2), TZ)] == [(DUE, subscription.id)]
        assert due_within(DUE - timedelta(hours=25), TZ) == []
        Subscription.update(agents=json.dumps([people["sales"].id])).execute()
        deliver(DUE)
    auth.login("admin@example.com")
    page = client.get("/admin/queue").get_data(as_text=True)
    assert "2026-12-02 09:00 CET" in page and "analyst@example.com" in page
    assert "Left out, no longer visible to this account: Sales Bot." in page


def test_run_notes_are_said_in_the_readers_language_those_stored_before_too(app, client, auth, people, subscription, monkeypatch):
    """The sweep stores a run's note in English; each page says it in its reader's
    language, the due time as that language writes times, and notes stored before as well."""
    back = DUE + timedelta(days=3, hours=2)
    monkeypatch.setattr("blueprints.admin.utcnow", lambda: back)
    with app.app_context():
        Subscription.update(agents=json.dumps([people["support"].id, people["sales"].id, 4242])).execute()  # 4242: deleted
        deliver(back)
        assert SubscriptionRun.get().note == (
            "Late: no worker was running at the due time (2026-12-04 09:00 CET (UTC+01:00)), or this account's earlier "
            "scheduled emails were still on their way. Left out, no longer visible to this account: Sales Bot, 1 deleted agent(s).")
        SubscriptionRun.create(subscription=subscription, first_day=DUE.date(), last_day=DUE.date(), due_at=DUE, started_at=back,
                               note="Left out, no longer visible to this account: Sales Bot, 2 deleted agent(s).")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    auth.login("admin@example.com")
    queue = client.get("/admin/queue").get_data(as_text=True)
    assert "С опозданием: в назначенное время (04.12.2026 09:00 CET (UTC+01:00)) не работал ни один обработчик" in queue
    assert "Пропущены агенты, которые больше не видны этой учётной записи: Sales Bot, 1 удалённый агент." in queue
    assert "Пропущены агенты, которые больше не видны этой учётной записи: Sales Bot, 2 удалённых агента." in queue
    assert "Late:" not in queue and "Left out" not in queue
    analyst = app.test_client()
    analyst.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    Auth(analyst).login("analyst@example.com")
    assert "С опозданием: в назначенное время (04.12.2026 09:00 CET" in analyst.get("/subscriptions").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    english = client.get("/admin/queue").get_data(as_text=True)
    assert "Late: no worker was running at the due time (2026-12-04 09:00 CET (UTC+01:00))" in english
    assert "Left out, no longer visible to this account: Sales Bot, 1 deleted agent." in english


def test_a_note_is_stored_in_english_whatever_language_is_in_force(app):
    """The sweep may run while a recipient's language is in force (`speaking_to`): the
    note it stores is still the English that pages and `failed_runs` read back."""
    from flask_babel import force_locale

    from subscriptions import notes

    with app.test_request_context(), force_locale("ru"):
        stored = notes.note(due=DUE, tz_name="Europe/Berlin", names=["Sales Bot"], deleted=1)
    assert stored == ("Late: no worker was running at the due time (2026-12-01 09:00 CET (UTC+01:00)), or this account's earlier "
                      "scheduled emails were still on their way. Left out, no longer visible to this account: Sales Bot, 1 deleted agent(s).")


def client_page(app, path):
    """`path` as the analyst sees it."""
    client = app.test_client()
    Auth(client).login("analyst@example.com")
    return client.get(path).get_data(as_text=True)


def test_the_form_says_when_the_first_email_would_come(app, client, auth, people, monkeypatch):
    """Both the panel and its script's answer follow the page's clock (a Wednesday in June,
    months from the real date, so that a clock left unpatched shows)."""
    now = datetime(2026, 6, 3, 12, 0)
    monkeypatch.setattr("blueprints.analytics.utcnow", lambda: now)
    monkeypatch.setattr("blueprints.subscriptions.utcnow", lambda: now)
    auth.login("analyst@example.com")
    assert ("Every Monday at 09:00 UTC, covering the previous Monday–Sunday; first on 8 June 2026 at 09:00"
            in client.get("/analytics").get_data(as_text=True))
    answer = client.get("/subscriptions/when?frequency=monthly&weekday=0&day=3&at=07:30").get_data(as_text=True)
    assert answer == "On day 3 of every month at 07:30 UTC, covering the previous month; first on 3 July 2026 at 07:30"
    assert client.get("/subscriptions/when?frequency=monthly&weekday=0&day=31&at=07:30").get_data(as_text=True) == ""
    assert client.get("/subscriptions/when?frequency=hourly&at=07:30").get_data(as_text=True) == ""


# --- limits: a subscription's runs and a person's clicks apart ---------------

ALL_KINDS = ["stop-slots", "slot-funnel", "slot-paths"]


def subscribe_daily(account, agent, kinds=ALL_KINDS, count=1):
    for _ in range(count):
        Subscription.create(account=account, kinds=json.dumps(kinds), agents=json.dumps([agent.id]),
                            frequency="daily", at="09:00", starts_at=CREATED, created_at=CREATED)


def test_a_mail_outage_with_scheduled_emails_waiting_never_blocks_a_persons_export(app, client, auth, people, monkeypatch):
    """4 subscriptions x 3 kinds wait for the mail server: more than a person may have in
    flight or ask for in an hour, and the person's export is queued all the same."""
    from export_queue import delivery
    from models import ExportItem

    def unreachable(message):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(delivery, "hand_over", unreachable)
    app.config.update(TIMEZONE=TZ, EXPORT_MAX_PENDING=10, EXPORT_MAX_PER_HOUR=10)
    with app.app_context():
        subscribe_daily(Account.get(Account.email == "analyst@example.com"), people["support"], count=4)
        for item in deliver(DUE):
            delivery.process_item(item.id)
        assert [(state, error.split(":")[0]) for state, error in ExportItem.select(ExportItem.state, ExportItem.error).tuples()] == [
            ("queued", "The mail server could not be reached")] * 12
    auth.login("analyst@example.com")
    form = {"agents": [people["support"].id], "date_from": "2026-11-29", "date_to": "2026-11-29", "action": "export"}
    page = client.get(auth.post("/analytics", form).location).get_data(as_text=True)
    assert "The Stop slots report will be sent to analyst@example.com" in page and "exports waiting" not in page
    with app.app_context():
        assert ExportRequest.select().where(ExportRequest.subscription_run.is_null()).count() == 1


def test_a_run_waits_while_the_accounts_scheduled_emails_are_at_their_limit(app, subscription, people):
    """Limit 4: the 2-kind subscription starts, the 3-kind one waits; a person's exports in
    flight do not count; when the first run's emails are out, the next sweep starts it, late."""
    from reporting import periods
    from export_queue import intake

    with app.app_context():
        analyst = subscription.account
        subscribe_daily(analyst, people["support"])
        for day in range(1, 6):
            filters = periods.Filters((people["support"].id,), DUE.date().replace(day=day), DUE.date().replace(day=day))
            assert intake.request_export(analyst, filters, max_pending=10).status == "queued"
        assert len(deliver(DUE, max_pending=4)) == 2
        assert [run.subscription_id for run in SubscriptionRun.select()] == [subscription.id]
        assert deliver(DUE + timedelta(minutes=10), max_pending=4) == [], "still waiting"
        scheduled_items_sent()
        assert len(deliver(DUE + timedelta(minutes=20), max_pending=4)) == 3
        late = SubscriptionRun.select().order_by(SubscriptionRun.id.desc()).get()
        assert late.note == ("Late: no worker was running at the due time (2026-12-01 09:00 CET (UTC+01:00)), "
                             "or this account's earlier scheduled emails were still on their way.")
        scheduled_items_sent()
        assert len(deliver(DUE + timedelta(days=1), max_pending=2)) == 2, "a run may start when none is in flight"


def scheduled_items_sent():
    from models import ExportItem

    scheduled = ExportRequest.select(ExportRequest.id).where(ExportRequest.subscription_run.is_null(False))
    ExportItem.update(state="sent").where(ExportItem.request.in_(scheduled)).execute()


def test_an_account_has_at_most_so_many_subscriptions(app, client, auth, people):
    app.config["SUBSCRIPTION_MAX_PER_ACCOUNT"] = 2
    auth.login("analyst@example.com")
    assert [subscribe(client, at=at).status_code for at in ("09:00", "10:00")] == [302, 302]
    refused = subscribe(client, at="11:00")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and '<details class="subscribe" open>' in page
    assert "You have 2 subscriptions, the most one account may have. Delete one on Subscriptions to make room." in page
    with app.app_context():
        assert [s.at for s in Subscription.select().order_by(Subscription.id)] == ["09:00", "10:00"]


def test_concurrent_subscribing_never_passes_the_limit(app, people):
    """Eight requests at once for an account one short of its limit: one subscription
    more, not eight (PostgreSQL: the account's lock; SQLite: one writer at a time)."""
    from reporting import periods

    results, barrier = [], threading.Barrier(8)
    with app.app_context():
        analyst = Account.get(Account.email == "analyst@example.com")
        subscribe_daily(analyst, people["support"], count=4)
    filters = periods.Filters((people["support"].id,), DUE.date(), DUE.date())
    settings = dict(kinds=json.dumps(ALL_KINDS), frequency="daily", weekday=0, day=1, at="09:00", skip_empty=False)

    def person():
        with app.app_context(), db.connection_context():
            barrier.wait()
            results.append(sweep.subscribe(analyst, filters, settings, max_per_account=5) is not None)

    threads = [threading.Thread(target=person) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    with app.app_context():
        assert Subscription.select().count() == 5


def test_a_deleted_accounts_subscriptions_stop(app, subscription):
    with app.app_context():
        Account.get_by_id(subscription.account_id).delete_instance(recursive=False)
        assert Subscription.select().count() == 0 and deliver(DUE) == []
