"""Faults injected into real processes: a worker killed mid-build, a mail server
that is down for a while or for good, a recipient refused, and everything at once
under load. Each test counts the emails the SMTP server really received."""
import collections
import contextlib
import random
import re
import signal
import threading
import time

import pytest

from devtools.processes import Browserless, SmtpSink, dialog_events, free_port, seeded_stack, wait_for

pytestmark = pytest.mark.e2e
QUIET_PERIOD = 3  # seconds to keep listening after the expected emails, to catch a double


def subjects(smtp):
    return collections.Counter(m["Subject"].split(":")[1].split(",")[0].strip() for m in smtp.messages)


def test_worker_killed_mid_build_is_recovered_and_each_email_sent_once(tmp_path):
    with SmtpSink() as smtp:
        stack = seeded_stack(tmp_path, smtp.port, EXPORT_BUILD_DELAY=3, EXPORT_LEASE=2)
        try:
            analyst = Browserless(stack.base_url)
            analyst.login("analyst@example.com")
            analyst.export([1, 2])
            wait_for(lambda: any(state == "building" for _, state, _, _ in stack.item_states()), what="a building item")
            worker = stack.processes[-1]
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            assert smtp.messages == []
            time.sleep(2.5)  # the dead worker's lease runs out
            stack.start_worker()
            smtp.wait_for_messages(2, timeout=40)
            time.sleep(QUIET_PERIOD)
            assert subjects(smtp) == {"Support Bot": 1, "Sales Bot": 1}
            states = stack.item_states()
            assert [state for _, state, _, _ in states] == ["sent", "sent"]
            assert max(attempts for *_, attempts in states) >= 2, "the killed attempt was retried"
        finally:
            stack.stop()


def test_mail_server_down_then_up_delivers_once(tmp_path):
    port = free_port()
    stack = seeded_stack(tmp_path, port, EXPORT_RETRY_DELAY=1)
    try:
        analyst = Browserless(stack.base_url)
        analyst.login("analyst@example.com")
        analyst.export([1])
        wait_for(lambda: stack.item_states()[0][2], what="the first failed attempt")
        (_, state, error, _), = stack.item_states()
        assert state == "queued" and "could not be reached" in error
        _, page, _ = analyst.get("/exports")
        assert b"Not sent yet: We could not reach the mail server. We will try again at" in page
        status, body, _ = analyst.get(re.search(rb'href="(/exports/download/[^"]+)"', page).group(1).decode())
        assert status == 200 and body.startswith("\ufeffSlot ID,".encode()), "the file is the account's already"
        wait_for(  # a retry failed too: the server stays down for two attempts
            lambda: stack.item_states()[0][3] >= 2 and stack.item_states()[0][1] == "queued",
            what="a failed retry",
        )
        with SmtpSink(port=port) as smtp:
            smtp.wait_for_messages(1, timeout=30)
            time.sleep(QUIET_PERIOD)
            assert subjects(smtp) == {"Support Bot": 1}
        (_, state, error, attempts), = stack.item_states()
        assert (state, error) == ("sent", None) and attempts >= 3
    finally:
        stack.stop()


def test_mail_server_down_for_good_fails_with_a_reason_and_send_again_works(tmp_path):
    port = free_port()
    stack = seeded_stack(tmp_path, port, EXPORT_RETRY_DELAY=1, EXPORT_RETRY_FOR=3)
    try:
        analyst = Browserless(stack.base_url)
        analyst.login("analyst@example.com")
        analyst.export([1])
        wait_for(lambda: stack.item_states()[0][1] == "failed", timeout=30, what="the item to fail")
        (_, _, error, _), = stack.item_states()
        assert "could not be reached" in error and "gave up after" in error
        _, page, _ = analyst.get("/exports")
        assert b"Not sent: We could not reach the mail server. Send again" in page
        assert b"gave up after" not in page, "the technical detail is for admins"
        with SmtpSink(port=port) as smtp:
            analyst.post_form("/exports", "/exports/1/again", {"agent": "1"})
            smtp.wait_for_messages(1)
            time.sleep(QUIET_PERIOD)
            assert subjects(smtp) == {"Support Bot": 1}
    finally:
        stack.stop()


def test_a_refused_recipient_fails_at_once(tmp_path):
    with SmtpSink(refuse={"analyst@example.com"}) as smtp:
        stack = seeded_stack(tmp_path, smtp.port)
        try:
            analyst = Browserless(stack.base_url)
            analyst.login("analyst@example.com")
            analyst.export([1])
            wait_for(lambda: stack.item_states()[0][1] == "failed", what="the item to fail")
            (_, _, error, attempts), = stack.item_states()
            assert "refused the recipient (550" in error and attempts == 1
            assert smtp.messages == []
        finally:
            stack.stop()


def test_ingestion_exports_and_pages_at_once_on_sqlite(tmp_path):
    """About 15 s of concurrent writers and readers: no 5xx, no lock errors, correct reports."""
    with SmtpSink() as smtp:
        stack = seeded_stack(tmp_path, smtp.port, EXPORT_MAX_PENDING=1000)
        statuses = collections.Counter()
        errors = []
        deadline = time.monotonic() + 15

        def ingest(agent, seed):
            rng = random.Random(seed)
            batch = 0
            while time.monotonic() < deadline:
                events = dialog_events(f"load-{seed}-{batch}", 50, rng.choice(["greet", "ask", "ru", "new-slot"]))
                rng.shuffle(events)
                try:
                    stack.api("POST", "/api/v1/events", stack.keys[agent], events)
                    statuses["api 200"] += 1
                except Exception as exc:  # noqa: BLE001 - every failure is a finding
                    errors.append(f"ingest: {exc}")
                batch += 1

        def browse(email, export_every):
            client = Browserless(stack.base_url)
            client.login(email)
            n = 0
            while time.monotonic() < deadline:
                n += 1
                days = n % 20 + 1
                status, _, _ = client.export([1, 2], days=days) if n % export_every == 0 else client.get("/analytics")
                statuses[f"page {status}"] += 1
                if status >= 500:
                    errors.append(f"page answered {status}")

        threads = [
            threading.Thread(target=ingest, args=("Support Bot", 1)),
            threading.Thread(target=ingest, args=("Sales Bot", 2)),
            threading.Thread(target=browse, args=("analyst@example.com", 3)),
            threading.Thread(target=browse, args=("analyst@example.com", 5)),
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wait_for(
                lambda: all(state in ("sent", "failed") for _, state, _, _ in stack.item_states()),
                timeout=60,
                what="every export to finish",
            )
            logs = stack.logs()
            print(dict(statuses), f"{len(stack.item_states())} export items, {len(smtp.messages)} emails")
            assert errors == []
            assert "database is locked" not in logs and "Traceback" not in logs
            assert statuses["api 200"] > 20 and statuses["page 200"] > 20
            states = stack.item_states()
            assert all(state == "sent" for _, state, _, _ in states)
            assert len(smtp.messages) == len(states), "one email per item, none doubled"

            assert stack.summaries() == stack.recount()
        finally:
            stack.stop()


def download_link(message):
    body = message.get_body(("plain",)).get_content()
    return re.search(r"(/exports/download/\S+)", body).group(1)


@contextlib.contextmanager
def exporting_through(tmp_path, fault):
    """A running stack whose mail server misbehaves with `fault`, just after the
    analyst asked for Support Bot's report (retries after 1 s)."""
    with SmtpSink(fault=fault) as smtp:
        stack = seeded_stack(tmp_path, smtp.port, EXPORT_RETRY_DELAY=1)
        try:
            analyst = Browserless(stack.base_url)
            analyst.login("analyst@example.com")
            analyst.export([1])
            yield smtp, stack, analyst
        finally:
            stack.stop()


@pytest.mark.parametrize("fault", ["drop-at-quit", "reset-after-data"])
def test_an_accepted_email_is_never_sent_again(tmp_path, fault):
    """The server accepted the message, then the connection failed: the report is delivered."""
    with exporting_through(tmp_path, fault) as (smtp, stack, analyst):
        (message,) = smtp.wait_for_messages(1)
        time.sleep(QUIET_PERIOD)  # a wrongful retry would come after 1 s
        assert smtp.faults_shown >= 1, "the fault really happened"
        assert len(smtp.messages) == 1
        assert stack.item_states() == [("Support Bot", "sent", None, 1)]
        status, body, _ = analyst.get(download_link(message))
        assert status == 200 and body.startswith("\ufeffSlot ID".encode())


@pytest.mark.parametrize(
    "fault, emails, state, attempts, words",
    [
        ("data-451-once", 1, "sent", 2, None),
        ("drop-during-data-once", 1, "sent", 2, None),
        ("data-554", 0, "failed", 1, "The mail server answered 554: 5.6.0 Message rejected"),
    ],
)
def test_a_fault_before_acceptance_is_retried_or_failed(tmp_path, fault, emails, state, attempts, words):
    with exporting_through(tmp_path, fault) as (smtp, stack, _):
        wait_for(lambda: stack.item_states()[0][1] in ("sent", "failed"), what="the item to finish")
        time.sleep(QUIET_PERIOD)
        (_, found_state, error, found_attempts), = stack.item_states()
        assert (len(smtp.messages), found_state, found_attempts) == (emails, state, attempts)
        assert error == words
