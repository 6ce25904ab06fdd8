"""The rules that keep exports from being lost or doubled, one process at a time.
The same rules under real crashes and outages are in test_faults.py."""
import contextlib
import os
import re
import smtplib
import sqlite3
import subprocess
import threading
import traceback
from datetime import date, timedelta

import flask_mail
import psycopg2
import pytest

import database
import tasks
from export_queue import delivery, intake, links, states, upkeep
from export_queue.health import queue_health
from models import Account, ExportItem, ExportRequest, utcnow
from reporting import kinds, periods
from tests.conftest import app_config, create_app, make_account, make_agent

LEASE = timedelta(seconds=60)


@pytest.fixture
def item(app):
    """One queued export item, in an app context."""
    with app.app_context():
        agent = make_agent("Support Bot")[0]
        account = make_account("admin@example.com", is_admin=True)
        filters = periods.Filters((agent.id,), date(2026, 3, 1), date(2026, 3, 1))
        outcome = intake.request_export(account, filters, max_pending=10)
        yield outcome.request.items[0]


def state(item):
    return ExportItem.get_by_id(item.id)


def test_an_item_is_claimed_once(item):
    first = states.claim(item.id, LEASE)
    assert first is not None and first.state == "building" and first.attempts == 1
    assert states.claim(item.id, LEASE) is None


def test_a_lapsed_lease_lets_another_worker_take_over(item):
    first = states.claim(item.id, LEASE)
    ExportItem.update(lease_until=utcnow() - timedelta(seconds=1)).execute()
    second = states.claim(item.id, LEASE)
    assert second is not None and second.claim_token != first.claim_token
    assert not states.move(first, "sent"), "the stalled worker may not record an outcome"
    assert state(item).state == "building"


def test_a_retry_is_not_claimed_before_its_time(item):
    ExportItem.update(not_before=utcnow() + timedelta(minutes=5)).execute()
    assert states.claim(item.id, LEASE) is None
    ExportItem.update(not_before=utcnow() - timedelta(seconds=1)).execute()
    assert states.claim(item.id, LEASE) is not None


def test_orphans_are_stale_queued_items_and_lapsed_leases(item):
    assert [i.id for i in upkeep.orphaned_items(grace=timedelta(0))] == [item.id]
    assert upkeep.orphaned_items(grace=timedelta(minutes=5)) == []  # just queued: its message is on the queue
    states.claim(item.id, LEASE)
    assert upkeep.orphaned_items(grace=timedelta(0)) == []  # a living worker holds it
    ExportItem.update(lease_until=utcnow() - timedelta(seconds=1)).execute()
    assert [i.id for i in upkeep.orphaned_items(grace=timedelta(0))] == [item.id]


def refused():
    return ConnectionRefusedError(111, "Connection refused")


@pytest.mark.parametrize(
    "exc, transient, words",
    [
        (refused(), True, "could not be reached"),
        (TimeoutError("timed out"), True, "could not be reached"),
        (smtplib.SMTPServerDisconnected("gone"), True, "could not be reached"),
        (smtplib.SMTPDataError(451, b"try later"), True, "answered 451: try later"),
        (smtplib.SMTPDataError(554, b"rejected"), False, "answered 554: rejected"),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}), False, "refused the recipient (550: no such user)"),
        (smtplib.SMTPRecipientsRefused({"a@x": (452, b"mailbox full")}), True, "refused the recipient"),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False, "answered 535"),
        (ValueError("bug"), False, "ValueError: bug"),
    ],
)
def test_mail_errors_are_told_apart(exc, transient, words):
    assert delivery.is_transient(exc) is transient
    assert words in delivery.describe(exc)


def test_retry_delays_double_up_to_a_cap():
    assert [delivery.retry_delay(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert delivery.retry_delay(20, 30) == 900


def failing_send(exc):
    def send(connection, message):
        raise exc

    return send


def test_mail_outage_puts_the_item_back_and_then_fails_it(app, item, monkeypatch):
    monkeypatch.setattr(flask_mail.Connection, "send", failing_send(refused()))
    delivery.process_item(item.id)
    retrying = state(item)
    assert retrying.state == "queued" and retrying.is_retrying and retrying.not_before > utcnow()
    assert retrying.data_as_of is not None, "the report was built once"
    built_at = retrying.data_as_of

    ExportItem.update(not_before=utcnow(), failing_since=utcnow() - timedelta(seconds=app.config["EXPORT_RETRY_FOR"])).execute()
    delivery.process_item(item.id)
    failed = state(item)
    assert failed.state == "failed" and "gave up after 60 min" in failed.error
    assert failed.data_as_of == built_at, "not rebuilt for a retry"


def test_a_permanent_refusal_fails_at_once(item, monkeypatch):
    monkeypatch.setattr(flask_mail.Connection, "send", failing_send(smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")})))
    delivery.process_item(item.id)
    assert state(item).state == "failed" and "550" in state(item).error


def test_queue_health(app, item):
    delivery.process_item(item.id)  # sent (suppressed in tests)
    account = Account.get()
    late = intake.request_export(account, periods.Filters((item.agent_id,), date(2026, 3, 2), date(2026, 3, 2)), 10)
    ExportRequest.update(created_at=utcnow() - timedelta(days=2)).where(ExportRequest.id == late.request.id).execute()
    health = queue_health()
    assert (health.queued, health.building, health.over_sla) == (1, 0, 1)
    assert len(health.latencies) == 1 and health.percentile(0.95) == health.latencies[0]
    lines = dict(health.lines())
    assert lines["Queued items"] == 1 and lines["Oldest waiting"].endswith(f"(request #{late.request.id})")


def test_queue_page_highlights_late_requests(app, client, auth, item):
    ExportRequest.update(created_at=utcnow() - timedelta(days=2)).execute()
    auth.login()
    page = client.get("/admin/queue").get_data(as_text=True)
    assert 'class="late"' in page and "over EXPORT_SLA" in page


def test_a_healthy_backlog_is_not_enqueued_twice(item):
    queued = upkeep.orphaned_items(grace=timedelta(0))
    assert upkeep.to_requeue(queued, waiting_ids={item.id}) == []  # its message is still there
    assert [i.id for i in upkeep.to_requeue(queued, waiting_ids={item.id + 1})] == [item.id]  # lost
    states.claim(item.id, LEASE)
    ExportItem.update(lease_until=utcnow() - timedelta(seconds=1)).execute()
    lapsed = upkeep.orphaned_items(grace=timedelta(0))
    assert [i.id for i in upkeep.to_requeue(lapsed, waiting_ids={item.id})] == [item.id]  # a dead worker's


def test_waiting_messages_are_read_from_the_queue(tmp_path):
    """Only this item's own message counts as waiting, not the sweep or another item's."""
    create_app(app_config(tmp_path, f"sqlite:///{tmp_path}/db.sqlite", QUEUE_IMMEDIATE=False), instance_path=str(tmp_path))
    tasks.huey.flush()
    tasks.sweep()
    tasks.process_export_item(7)
    tasks.process_export_item.schedule(args=(8,), delay=60)
    assert tasks.waiting_ids(tasks.process_export_item) == {7, 8}


def test_the_transition_table_is_enforced(item):
    held = states.claim(item.id, LEASE)
    with pytest.raises(states.IllegalTransition):
        states.move(held, "expired")
    assert states.mark_delivered(held, sent_at=utcnow(), expires_at=utcnow() + LEASE)
    sent = state(item)
    assert (sent.state, sent.claim_token, sent.lease_until) == ("sent", None, None), "a terminal state clears the claim"
    assert not states.move(held, "queued"), "a sent item never goes back to the queue"
    assert not states.move(held, "failed")
    assert states.claim(item.id, LEASE) is None
    assert state(item).state == "sent"


def test_a_late_error_cannot_requeue_a_delivered_item(app, item, monkeypatch):
    """The old bug: an error after acceptance put the item back and sent it again."""

    held = states.claim(item.id, LEASE)
    states.mark_delivered(held, sent_at=utcnow(), expires_at=utcnow() + LEASE)
    delivery.retry_later(held, delivery.mail_failure(ConnectionResetError("connection reset")))
    assert state(item).state == "sent" and state(item).error is None


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change, transient",
    [
        ({"dbname": "no_such_database"}, False),
        ({"user": "no_such_role"}, False),
        ({"port": 1}, True),  # nothing listens: a server not up yet
    ],
)
def test_a_server_that_refuses_the_login_is_not_retried(postgres_url, change, transient):
    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(postgres_url, connect_timeout=3, **change)
    assert database.is_transient(refused.value) is transient


def interrupt(app):
    """Make this thread's database connection fail as it really does, for a moment:
    on PostgreSQL the server ends it (pg_terminate_backend); on SQLite another
    connection holds the write lock for a second, longer than this one waits."""
    url = app.config["DATABASE_URL"]
    if url.startswith("postgres"):
        admin = psycopg2.connect(url)
        admin.autocommit = True
        admin.cursor().execute("SELECT pg_terminate_backend(%s, 5000)", (database.db.connection().get_backend_pid(),))
        admin.close()
        return
    database.db.execute_sql("PRAGMA busy_timeout = 50")
    holder = sqlite3.connect(url[len("sqlite:///"):], check_same_thread=False, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, lambda: (holder.rollback(), holder.close())).start()


def test_recording_a_delivery_is_retried_after_a_real_interruption(app, item, monkeypatch):
    real, calls = states.mark_delivered, []

    def interrupted_once(held, **changes):
        calls.append(1)
        if len(calls) == 1:
            interrupt(app)
        return real(held, **changes)

    monkeypatch.setattr(delivery, "mark_delivered", interrupted_once)
    sent = []
    monkeypatch.setattr(flask_mail.Connection, "send", lambda connection, message: sent.append(message))
    delivery.process_item(item.id)
    assert len(calls) == 2 and len(sent) == 1
    assert state(item).state == "sent"


def test_a_step_that_loses_its_database_connection_is_retried(app, item, monkeypatch):
    build, sent = kinds.build_report, []

    def build_then_lose_the_connection(*args):
        dialogs = build(*args)
        interrupt(app)
        return dialogs

    monkeypatch.setattr(kinds, "build_report", build_then_lose_the_connection)
    monkeypatch.setattr(flask_mail.Connection, "send", lambda connection, message: sent.append(message))
    delivery.process_item(item.id)
    retrying = state(item)
    assert retrying.state == "queued" and retrying.error.startswith("The database could not be reached or was busy: ")
    monkeypatch.setattr(kinds, "build_report", build)
    ExportItem.update(not_before=utcnow()).execute()
    delivery.process_item(item.id)
    assert state(item).state == "sent" and len(sent) == 1


def logged_traceback(caplog, words):
    return any(record.exc_info and words in "".join(traceback.format_exception(*record.exc_info)) for record in caplog.records)


def test_a_database_that_was_not_upgraded_fails_the_item_at_once(app, item, caplog):
    """"no such column" (SQLite) or "column … does not exist" (PostgreSQL) comes back
    every time: the item fails at once, named for what failed, its traceback logged."""
    database.db.execute_sql("ALTER TABLE account DROP COLUMN csv_separator")
    delivery.process_item(item.id)
    failed = state(item)
    assert (failed.state, failed.attempts) == ("failed", 1), failed.error
    assert re.fullmatch(r"The database refused this step \((Operational|Programming)Error\); the worker's log has the details\.", failed.error)
    assert logged_traceback(caplog, "csv_separator")


def refuse_sent_items(app):
    """A constraint that refuses to record any item as sent: an IntegrityError every time."""
    if app.config["DATABASE_URL"].startswith("postgres"):
        database.db.execute_sql("ALTER TABLE export_item ADD CONSTRAINT never_sent CHECK (state <> 'sent') NOT VALID")
    else:
        database.db.execute_sql(
            "CREATE TRIGGER never_sent BEFORE UPDATE ON export_item WHEN NEW.state = 'sent'"
            " BEGIN SELECT RAISE(ABORT, 'never sent'); END"
        )


def test_recording_a_delivery_is_not_retried_when_the_database_refuses_it(app, item, monkeypatch, caplog):
    refuse_sent_items(app)
    sent, waits = [], []

    def no_endless_retries(seconds):
        waits.append(seconds)
        if len(waits) > 3:
            raise AssertionError("retried a database error that retrying cannot fix")

    monkeypatch.setattr(flask_mail.Connection, "send", lambda connection, message: sent.append(message))
    monkeypatch.setattr(delivery.time, "sleep", no_endless_retries)
    delivery.process_item(item.id)
    failed = state(item)
    assert failed.state == "failed" and len(sent) == 1
    assert failed.error == (
        "The email was sent, but recording it failed:"
        " The database refused this step (IntegrityError); the worker's log has the details."
    )
    assert logged_traceback(caplog, "IntegrityError")


def test_a_failure_recorded_after_a_send_is_retried_so_the_email_is_not_sent_again(app, item, monkeypatch):
    """The email went out and recording it is refused; if recording the failure
    then meets a lost connection, giving up would leave the item leased, and the
    sweep would send it again."""
    refuse_sent_items(app)
    real, calls, sent = delivery.move, [], []

    def interrupted_once(held, state, **changes):
        calls.append(state)
        if len(calls) == 1:
            interrupt(app)
        return real(held, state, **changes)

    monkeypatch.setattr(delivery, "move", interrupted_once)
    monkeypatch.setattr(flask_mail.Connection, "send", lambda connection, message: sent.append(message))
    delivery.process_item(item.id)
    assert calls == ["failed", "failed"] and len(sent) == 1
    assert (state(item).state, state(item).lease_until) == ("failed", None)


@pytest.fixture
def tiny_reports_folder(app):
    """REPORTS_DIR on a real 64 KiB file system, mounted for this test (root only)."""
    folder = app.config["REPORTS_DIR"]
    os.makedirs(folder, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", folder], capture_output=True)
    if mounted.returncode:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr!r}")
        pytest.skip("mounting a tmpfs needs root")
    yield folder
    subprocess.run(["umount", "-l", folder], check=True)


def test_a_full_reports_folder_is_named_and_retried(app, client, auth, item, tiny_reports_folder):
    filler = os.path.join(tiny_reports_folder, "filler")
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        f.write(b"x" * 1024 * 1024)
    delivery.process_item(item.id)
    retrying = state(item)
    assert retrying.state == "queued"
    assert retrying.error.startswith(f"The report could not be written to {tiny_reports_folder}/{item.id}")
    assert "No space left on device" in retrying.error
    assert os.listdir(os.path.join(tiny_reports_folder, str(item.id))) == [], "no half-written file is left behind"
    auth.login()
    assert "No space left on device" in client.get("/admin/queue").get_data(as_text=True), "admins see it"

    os.remove(filler)
    ExportItem.update(not_before=utcnow()).execute()
    delivery.process_item(item.id)
    assert state(item).state == "sent"


def test_a_read_only_reports_folder_is_named(app, item, tiny_reports_folder):
    subprocess.run(["mount", "-o", "remount,ro", tiny_reports_folder], check=True)
    delivery.process_item(item.id)
    retrying = state(item)
    assert retrying.state == "queued"
    assert retrying.error == f"The report could not be written to {tiny_reports_folder}/{item.id}: Read-only file system"


def test_a_very_long_agent_name_still_gets_its_report(item):
    agent = make_agent("顧客サポート" * 15)[0]  # 90 characters, 270 bytes in UTF-8
    assert len(agent.slug.encode()) <= 100 and agent.slug.startswith("顧客サポート")
    filters = periods.Filters((agent.id,), date(2026, 3, 1), date(2026, 3, 1))
    held = intake.request_export(Account.get(), filters, max_pending=10).request.items[0]
    delivery.process_item(held.id)
    assert state(held).state == "sent"
    name = os.path.basename(links.report_path(state(held)))
    assert len(name.encode()) <= 255 and name.startswith("stop-slots_顧客サポート") and name.endswith("_2026-03-01.csv")


def test_the_sweep_deletes_the_files_of_failed_items(app, item, monkeypatch):
    monkeypatch.setattr(flask_mail.Connection, "send", failing_send(smtplib.SMTPDataError(554, b"rejected")))
    delivery.process_item(item.id)
    failed = state(item)
    assert failed.state == "failed" and os.path.exists(links.report_path(failed))
    assert upkeep.remove_stale_files() == 1
    assert not os.path.exists(links.report_folder(failed))
