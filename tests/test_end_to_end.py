"""The export flow with real processes: the web server, a `huey_consumer` worker
(not immediate mode), an SMTP server, and Debian's Chromium clicking the button."""
import csv
import io
import os
import re
import sqlite3
import time
from datetime import date, datetime, timedelta, timezone

import openpyxl
import pytest
from playwright.sync_api import expect

from devtools.processes import ANALYST_PASSWORD, Browserless, SmtpSink, Stack, dialog_events, seeded_stack, wait_for
from comparison import periods
from reporting.files import guard_formula

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PASSWORD = ANALYST_PASSWORD
TODAY = date.today()


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def stack(tmp_path, smtp):
    stack = seeded_stack(tmp_path, smtp.port)
    yield stack
    stack.stop()


@pytest.fixture
def any_stack(tmp_path, smtp, backend):
    """The same, on each backend: SQLite, and PostgreSQL with a Redis queue."""
    stack = seeded_stack(tmp_path, smtp.port, **backend)
    yield stack
    stack.stop()


def link_in(message):
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://127\.0\.0\.1:\d+/exports/download/\S+", body).group(0)


def parse_csv(data):
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_export_with_real_worker_and_smtp_server(any_stack, smtp):
    stack = any_stack
    analyst = Browserless(stack.base_url)
    analyst.login("analyst@example.com")
    _, page, _ = analyst.export([1, 2])
    assert b"will be sent to analyst@example.com, one email per agent (2 emails)" in page
    messages = smtp.wait_for_messages(2)
    time.sleep(0.5)
    assert len(smtp.messages) == 2, "exactly one email per agent"
    by_agent = {m["Subject"].split(": ")[1].split(",")[0]: m for m in messages}
    assert set(by_agent) == {"Support Bot", "Sales Bot"}
    assert all(m["To"] == "analyst@example.com" for m in messages)
    assert "The report is empty" in by_agent["Sales Bot"].get_body(("plain",)).get_content()
    assert by_agent["Support Bot"].get_body(("html",)) is not None

    status, data, _ = analyst.get(link_in(by_agent["Support Bot"]))
    assert status == 200
    rows = parse_csv(data)
    assert rows[1] == ["greet", "Greeting", "message", 'Hello!\nSecond line, with "quotes"', "3", "60.00"]
    assert rows[2] == ["ask", "Ask order", "question", "'=Your order number?", "2", "40.00"]

    other = Browserless(stack.base_url)
    other.login("other@example.com")
    assert other.get(link_in(by_agent["Support Bot"]))[0] == 403
    assert analyst.get(link_in(by_agent["Support Bot"])[:-3] + "abc")[0] == 404

    token = link_in(by_agent["Support Bot"]).rsplit("/", 1)[1]
    logs = stack.logs()
    assert "GET /exports/download/<token> HTTP/1.1" in logs and token not in logs


def browser_available():
    return os.path.exists(CHROMIUM)


@pytest.fixture
def page():
    if not browser_available():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"no browser at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True)
        yield context.new_page()
        context.close()
        browser.close()


def open_download(page, url):
    """Follow an emailed link the way a browser does when the answer is a file."""
    with page.expect_download() as download_info:
        page.evaluate("url => { window.location.href = url }", url)
    return download_info.value


def one_emailed_csv(page, smtp, tmp_path, subject, file_name):
    """The one email expected, which has `subject`, and the rows of the CSV its link
    downloads as `file_name`: (the email's text, rows)."""
    (message,) = smtp.wait_for_messages(1)
    assert message["Subject"] == subject
    download = open_download(page, link_in(message))
    assert download.suggested_filename == file_name
    path = tmp_path / file_name
    download.save_as(path)
    return message.get_body(("plain",)).get_content(), parse_csv(path.read_bytes())


@pytest.mark.browser
def test_browser_export_flow(stack, smtp, page, tmp_path):
    page.goto(stack.base_url + "/analytics")
    page.get_by_label("Email").fill("analyst@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_label("Support Bot", exact=True).check()
    page.get_by_label("Sales Bot", exact=True).check()
    page.get_by_label("From", exact=True).fill(str(TODAY - timedelta(days=6)))
    page.get_by_label("To", exact=True).fill(str(TODAY))
    clicked = time.monotonic()
    page.get_by_role("button", name="Stop slots").click()
    page.get_by_text("The Stop slots report will be sent to analyst@example.com, one email per agent").wait_for()

    messages = smtp.wait_for_messages(2)
    print(f"click to last email: {max(smtp.received_at) - clicked:.2f} s")
    support = next(m for m in messages if "Support Bot" in m["Subject"])
    link = link_in(support)

    download = open_download(page, link)
    assert download.suggested_filename == f"stop-slots_support-bot_{TODAY - timedelta(days=6)}_{TODAY}.csv"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    rows = parse_csv(path.read_bytes())
    assert [row[0] for row in rows[1:]] == ["greet", "ask"]

    page.goto(stack.base_url + "/exports")
    assert page.get_by_role("link", name="Download the CSV").count() == 2
    with page.expect_download() as workbook_download:
        page.get_by_role("link", name="Download for Excel: Support Bot").click()
    workbook = tmp_path / workbook_download.value.suggested_filename
    workbook_download.value.save_as(workbook)
    assert workbook.name == path.name.removesuffix(".csv") + ".xlsx"
    sheet = openpyxl.load_workbook(workbook).active
    in_workbook = [[guard_formula(v) if isinstance(v, str) else str(v or "") for v in row][:5] for row in sheet.values]
    assert in_workbook == [row[:5] for row in rows], "the same cells; a formula-like text is plain text there"
    assert sheet["D3"].value == "=Your order number?" and sheet["D3"].data_type == "s"

    # Logged out, the link asks for a login, then goes straight on to the file.
    page.get_by_role("button", name="Log out").click()
    page.goto(link)
    page.get_by_label("Email").fill("analyst@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_download() as again:
        page.get_by_role("button", name="Log in").click()
    assert again.value.suggested_filename == download.suggested_filename

    # Past its expiry the link answers 410 and offers the same report again.
    with sqlite3.connect(stack.database) as db:
        db.execute("UPDATE export_item SET expires_at = '2000-01-01 00:00:00'")
    response = page.goto(link)
    assert response.status == 410
    page.get_by_role("button", name="Request again").click()
    messages = smtp.wait_for_messages(3)
    assert messages[2]["Subject"] == support["Subject"]
    assert open_download(page, link_in(messages[2])).suggested_filename == download.suggested_filename


@pytest.mark.browser
def test_forgot_password_in_the_browser(stack, smtp, page):
    """Forgot password?, its email through the worker and a real SMTP server, the
    link, a new password, and a log-in with it; the token stays out of the logs."""
    new_password = "a password from the email"
    page.goto(stack.base_url + "/login")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill("analyst@example.com")
    page.get_by_role("button", name="Send me a link").click()
    page.get_by_text("Check your email.").wait_for()
    (message,) = smtp.wait_for_messages(1)
    assert message["Subject"] == "Reset your Slotlens password" and message["To"] == "analyst@example.com"
    link = re.search(r"http://127\.0\.0\.1:\d+/login/reset/\S+", message.get_body(("plain",)).get_content()).group(0)

    page.goto(link)
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Change password and log in").click()
    page.get_by_role("heading", name="Analytics").wait_for()
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Email").fill("analyst@example.com")
    page.get_by_label("Password").fill(new_password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Analytics").wait_for()
    assert page.goto(link).status == 410, "the link worked once"
    assert link.rsplit("/", 1)[1] not in stack.logs()


@pytest.fixture
def slow_stack(tmp_path, smtp):
    """Building takes a second, so a second click lands while the first is in flight."""
    stack = seeded_stack(tmp_path, smtp.port, EXPORT_BUILD_DELAY=1)
    yield stack
    stack.stop()


@pytest.mark.browser
def test_double_click_queues_one_request(slow_stack, smtp, page):
    page.goto(slow_stack.base_url + "/login")
    page.get_by_label("Email").fill("analyst@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Stop slots").dblclick()
    page.get_by_text("one email per agent").wait_for()
    smtp.wait_for_messages(2)
    time.sleep(2)
    assert len(smtp.messages) == 2
    assert len(slow_stack.item_states()) == 2, "one request: one item per agent"


def test_two_export_posts_at_once_queue_one_request(slow_stack, smtp):
    """The server's own duplicate check, which the page's script keeps a double click from reaching."""
    analyst = Browserless(slow_stack.base_url)
    analyst.login("analyst@example.com")
    today = date.today()
    fields = {"agents": ["1", "2"], "date_from": str(today - timedelta(days=6)), "date_to": str(today), "action": "export"}
    pages = [page for _, page in analyst.post_at_once("/analytics", "/analytics", fields, times=2)]
    smtp.wait_for_messages(2)
    time.sleep(2)
    assert len(smtp.messages) == 2
    assert len(slow_stack.item_states()) == 2, "one request: one item per agent"
    assert sum("is already on its way" in page for page in pages) == 1


@pytest.mark.browser
def test_hostile_names_do_not_run_in_the_browser(stack, page):
    payload = '<img src=x onerror="document.title=\'pwned\'">'
    key = stack.cli("create-agent", f"Bot {payload}").strip().rsplit(" ", 1)[1]
    stack.cli("grant", "analyst@example.com", f"Bot {payload}")
    stack.api("PUT", "/api/v1/slots", key, [{"key": "x", "name": f"Slot {payload}", "type": "message"}])
    events = [dict(e, channel=f"ch {payload}") for e in dialog_events("x", 2, "x")]
    stack.api("POST", "/api/v1/events", key, events)
    dialogs = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.goto(stack.base_url + "/login")
    page.get_by_label("Email").fill("analyst@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Stop slots preview").wait_for()
    assert page.get_by_text(f"Bot {payload}").count() >= 1, "shown as text"
    assert page.title() != "pwned" and dialogs == []


def test_funnel_and_paths_with_real_worker_and_smtp_server(stack, smtp):
    analyst = Browserless(stack.base_url)
    analyst.login("analyst@example.com")
    analyst.export([1, 2], kind="slot-funnel")
    analyst.export([1, 2], kind="slot-paths")
    messages = smtp.wait_for_messages(4)
    time.sleep(0.5)
    assert sorted(m["Subject"].split(",")[0] for m in smtp.messages) == [
        "Slot funnel report: Sales Bot", "Slot funnel report: Support Bot",
        "Slot paths report: Sales Bot", "Slot paths report: Support Bot",
    ]
    funnel = next(m for m in messages if m["Subject"].startswith("Slot funnel report: Support Bot"))
    status, data, _ = analyst.get(link_in(funnel))
    rows = parse_csv(data)
    assert status == 200 and rows[0][4:7] == ["Reached", "Times shown", "Stopped"]
    assert {row[0]: row[4:] for row in rows[1:]} == {
        "greet": ["3", "3", "3", "100.00", "60.00"], "ask": ["2", "2", "2", "100.00", "40.00"],
    }


@pytest.fixture
def idle_stack(tmp_path, smtp, backend):
    """The seeded stack on each backend, with no worker running yet."""
    stack = seeded_stack(tmp_path, smtp.port, workers=0, **backend)
    yield stack
    stack.stop()


def add_subscription(stack, due):
    """The analyst's daily Stop slots subscription for both agents, due at `due` (UTC,
    the stack's TIMEZONE), made an hour before."""
    made = (due - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    account = stack.query("SELECT id FROM account WHERE email = 'analyst@example.com'")[0][0]
    stack.query(
        "INSERT INTO subscription (account_id, kinds, agents, channels, outcomes, frequency, weekday, day, at, skip_empty,"
        f" is_paused, starts_at, created_at) VALUES ({account}, '[\"stop-slots\"]', '[1, 2]', '[]', '[]', 'daily', 0, 1,"
        f" '{due:%H:%M}', false, false, '{made}', '{made}') RETURNING id"
    )


def subscription_runs(stack):
    return stack.query("SELECT first_day, note FROM subscription_run")


def test_three_workers_and_a_restart_deliver_a_due_subscription_once(idle_stack, smtp):
    """Every consumer looks for due subscriptions when it starts and every minute; the
    database lets one of them start the period."""
    stack = idle_stack
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    add_subscription(stack, now.replace(second=0, microsecond=0))
    for _ in range(3):
        stack.start_worker()
    messages = smtp.wait_for_messages(2)
    assert sorted(m["Subject"].split(":")[1].split(",")[0].strip() for m in messages) == ["Sales Bot", "Support Bot"]
    assert "sent by your subscription: Every day at" in messages[0].get_body(preferencelist=("plain",)).get_content()
    stack.stop()  # and back: starting again must not deliver the period again
    stack.processes.clear()
    for _ in range(3):
        stack.start_worker()
    time.sleep(5)
    assert len(smtp.messages) == 2
    runs = subscription_runs(stack)
    assert len(runs) == 1 and runs[0][1] is None


def test_workers_down_over_the_due_time_send_one_late_email_when_back(idle_stack, smtp):
    stack = idle_stack
    due = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0) - timedelta(minutes=10)
    add_subscription(stack, due)
    for _ in range(2):
        stack.start_worker()
    smtp.wait_for_messages(2)
    time.sleep(3)
    assert len(smtp.messages) == 2
    runs = subscription_runs(stack)
    assert len(runs) == 1 and runs[0][1].startswith("Late: no worker was running at the due time")


def test_workers_killed_while_building_a_scheduled_report_send_it_once_after_restart(tmp_path, smtp, backend):
    """SIGKILL every consumer after the period was claimed and while its reports are
    being built; the restarted consumers finish them, and nobody starts the period again."""
    stack = seeded_stack(tmp_path, smtp.port, workers=0, EXPORT_BUILD_DELAY=3, EXPORT_LEASE=2, **backend)
    try:
        add_subscription(stack, datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0))
        workers = [stack.start_worker() for _ in range(3)]
        wait_for(lambda: len(subscription_runs(stack)) == 1 and any(s == "building" for _, s, _, _ in stack.item_states()),
                 what="the period claimed and a report building")
        for worker in workers:
            worker.kill()
            worker.wait()
        assert smtp.messages == []
        time.sleep(2.5)  # the dead workers' leases run out; starting workers take such items over
        for _ in range(3):
            stack.start_worker()
        smtp.wait_for_messages(2, timeout=60)
        time.sleep(5)
        assert len(smtp.messages) == 2 and len(subscription_runs(stack)) == 1
    finally:
        stack.stop()


@pytest.mark.browser
def test_browser_from_a_number_to_its_dialogs_and_their_transcripts_by_email(stack, smtp, page, tmp_path):
    """Stop slots preview → `2` dialogs that stopped at Ask order → a transcript → Next →
    back to the list → Export transcripts → the email → the CSV, all through the worker."""
    page.goto(stack.base_url + "/analytics")
    page.get_by_label("Email").fill("analyst@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Sales Bot", exact=True).uncheck()
    expect(page.locator("#preview")).not_to_contain_text("Sales Bot")  # the preview follows

    page.get_by_role("link", name="2 dialogs that stopped at Ask order").first.click()
    page.get_by_role("heading", name="Dialogs that stopped at Ask order").wait_for()
    assert page.get_by_text("2 dialogs", exact=False).first.is_visible()
    listed = page.locator("td[data-label='Dialog ID'] a").all_inner_texts()
    assert sorted(listed) == ["a-0", "a-1"]

    page.get_by_role("link", name=listed[0]).click()
    page.get_by_role("heading", name=f"Dialog {listed[0]}").wait_for()
    marked = page.locator("li.line.marked")
    assert marked.count() == 1 and "Ask order" in marked.inner_text() and marked.get_attribute("id") == "here"
    page.get_by_role("link", name="Next").click()
    page.get_by_role("heading", name=f"Dialog {listed[1]}").wait_for()
    assert page.get_by_role("link", name="Next").count() == 0, "the list's last dialog"
    page.get_by_role("link", name="Back to the list").click()
    page.get_by_role("heading", name="Dialogs that stopped at Ask order").wait_for()

    page.get_by_role("button", name="Export transcripts").click()
    page.get_by_text("The transcripts will be sent to analyst@example.com").wait_for()
    text, rows = one_emailed_csv(page, smtp, tmp_path, f"Transcripts: Support Bot, {TODAY - timedelta(days=29)} \u2013 {TODAY}",
                                 f"transcripts_support-bot_{TODAY - timedelta(days=29)}_{TODAY}.csv")
    assert "The transcripts of the 2 dialogs that stopped at Ask order." in text
    assert rows[0] == ["Dialog ID", "Channel", "Started", "Time", "Sender", "Slot ID", "Slot name", "Text"]
    assert sorted({row[0] for row in rows[1:]}) == ["a-0", "a-1"] and len(rows) == 1 + 4
    assert {(row[4], row[5], row[6], row[7]) for row in rows[1:]} == {("bot", "ask", "Ask order", ""), ("user", "", "", "ok")}


@pytest.mark.browser
def test_browser_outcome_rules_rates_a_filtered_funnel_and_the_outcomes_email(stack, smtp, page, tmp_path):
    """An admin writes two rules on the agent page, the worker recomputes history, the
    preview shows the two rates, the funnel narrows to Abandoned, and the Outcomes
    report of that filter arrives by email."""
    key = stack.keys["Support Bot"]
    stack.api("PUT", "/api/v1/slots", key, [{"key": "human", "name": "To a person", "type": "handover"},
                                            {"key": "thanks", "name": "Thanks", "type": "message"}])
    stack.api("POST", "/api/v1/events", key, dialog_events("h", 2, "human") + dialog_events("t", 2, "thanks"))
    stack.cli("create-user", "admin@example.com", "--password", PASSWORD, "--admin")
    page.goto(stack.base_url + "/admin/agents/1")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    section = page.locator("#outcomes")
    for number, outcome, condition, field, choice in (
        (1, "Escalated", "reaches a slot of type", "Slot type", "handover"),
        (2, "Completed", "ends at", "Slots", "Thanks"),
    ):
        section.get_by_role("button", name="Add rule").click()
        rule = section.get_by_role("group", name=f"Rule {number}")
        rule.get_by_label("Outcome").select_option(outcome)
        rule.get_by_label("When the dialog").select_option(label=condition)
        rule.get_by_label(field).select_option(label=choice)
    page.get_by_role("button", name="Save rules").click()
    page.get_by_text("Outcomes as of").wait_for(timeout=15_000)  # the worker recomputed the stored dialogs

    page.goto(stack.base_url + f"/analytics?agents=1&date_from={TODAY - timedelta(days=6)}&date_to={TODAY}")
    page.get_by_text("9 counted dialogs").first.wait_for()
    assert page.get_by_role("link", name="Containment 77.78%: the dialogs not escalated").is_visible()  # 7 of 9
    assert page.get_by_role("link", name="Completion 22.22%: the completed dialogs").is_visible()  # 2 of 9

    page.get_by_label("Funnel", exact=True).check()
    page.get_by_label("Abandoned", exact=True).check()
    page.get_by_text("5 counted dialogs").first.wait_for()  # the 3 at Greeting and 2 at Ask order, an hour idle
    assert "outcomes=abandoned" in page.url or page.get_by_label("Abandoned", exact=True).is_checked()

    page.get_by_role("button", name="Outcomes", exact=True).click()
    page.get_by_text("The Outcomes report will be sent to admin@example.com").wait_for()
    text, rows = one_emailed_csv(page, smtp, tmp_path, f"Outcomes report: Support Bot, {TODAY - timedelta(days=6)} \u2013 {TODAY}",
                                 f"outcomes_support-bot_{TODAY - timedelta(days=6)}_{TODAY}.csv")
    assert "Outcomes: Abandoned" in text
    assert rows == [["Outcome", "Dialogs", "Share (%)"], ["Completed", "0", "0.00"], ["Escalated", "0", "0.00"],
                    ["Failed", "0", "0.00"], ["Abandoned", "5", "100.00"], ["In progress", "0", "0.00"]]


def path_events(prefix, count, slots, day):
    """`count` counted dialogs showing `slots` in order, at noon UTC on `day`."""
    events = []
    for i in range(count):
        start = datetime.combine(day, datetime.min.time()) + timedelta(hours=12, seconds=i)
        events.append({"dialog_id": f"{prefix}-{i}", "channel": "web", "sender": "user", "text": "hi", "timestamp": start.isoformat() + "Z"})
        for offset, slot in enumerate(slots, 1):
            events.append({"dialog_id": f"{prefix}-{i}", "channel": "web", "sender": "bot", "slot": slot,
                           "timestamp": (start + timedelta(seconds=offset)).isoformat() + "Z"})
    return events


def test_three_workers_racing_send_an_alert_once_per_period(idle_stack, smtp):
    """Yesterday 30 of 40 Support Bot dialogs stopped at Greeting, the day before 10 of
    40: an exit-rate alert due this morning fires once, though three consumers check
    it as they start and every minute, and not again after a restart."""
    stack = idle_stack
    today = datetime.now(timezone.utc).date()
    key = stack.keys["Support Bot"]
    for prefix, day, stopped in (("y", today - timedelta(days=1), 30), ("b", today - timedelta(days=2), 10)):
        stack.api("POST", "/api/v1/events", key, path_events(f"{prefix}-greet", stopped, ["greet"], day)
                  + path_events(f"{prefix}-ask", 40 - stopped, ["greet", "ask"], day))
    account = stack.query("SELECT id FROM account WHERE email = 'analyst@example.com'")[0][0]
    stack.query(
        "INSERT INTO alert (account_id, agents, channels, watch, direction, threshold, min_dialogs, only_significant,"
        " frequency, weekday, at, is_paused, created_at)"
        f" VALUES ({account}, '[1]', '[]', 'exit-rate', 'rises', 1000, 30, true, 'daily', 0, '00:00', false, '{today}') RETURNING id"
    )
    for _ in range(3):
        stack.start_worker()
    [message] = smtp.wait_for_messages(1)
    assert message["Subject"] == f"Exit rate rose at Greeting of Support Bot, {today - timedelta(days=1):%-d %b}"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "before 25.00%, now 75.00%, change +50.00 pp (40 dialogs; 40 before)" in body
    stack.stop()
    stack.processes.clear()
    for _ in range(3):
        stack.start_worker()
    time.sleep(5)
    assert len(smtp.messages) == 1
    assert stack.query("SELECT state, attempts FROM alert_run") == [("sent", 1)]


@pytest.mark.browser
def test_browser_compare_the_demos_last_week_then_an_alert_by_email(tmp_path, smtp, page):
    """The demo's last 7 days beside the 7 before: its reworded order-number question lost
    significantly fewer people. Then an alert made on the EXPORT panel is checked at once
    by the worker and its email names what got worse, with a link to the dialogs behind it."""
    stack = Stack(tmp_path, smtp.port)
    try:
        stack.cli("init-db")
        stack.cli("demo-data")
        stack.start_web()
        stack.start_worker()
        compare_then_alert(stack, smtp, page)
    finally:
        stack.stop()


def compare_then_alert(stack, smtp, page):
    page.goto(stack.base_url + "/analytics")
    page.get_by_label("Email").fill("demo@slotlens.local")
    page.get_by_label("Password").fill("slotlens-demo")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Last 7 days").click()
    page.get_by_label("Funnel", exact=True).check()
    page.get_by_label("Compare with").select_option(label="Previous period")
    compared = f"{periods.in_words(TODAY - timedelta(days=6), TODAY)} vs {periods.in_words(TODAY - timedelta(days=13), TODAY - timedelta(days=7))}"
    page.get_by_text(f"Compared: {compared}").wait_for()
    support = page.locator("article.agent-preview", has=page.get_by_role("heading", name="Support Bot", exact=True))
    reworded = support.get_by_role("row").filter(has_text="Ask order number")
    assert reworded.locator(".versus.down .marker").count() == 1, "the exit rate fell significantly"
    before = support.get_by_role("link", name=re.compile(r"dialogs that reached Ask order number in the period before"))
    assert f"date_to={TODAY - timedelta(days=7)}" in before.get_attribute("href")
    assert "compare=previous" in page.url or page.get_by_label("Compare with").input_value() == "previous"

    page.get_by_text("Alert me").click()
    page.get_by_label("Exit rate of each slot").check()
    page.get_by_label("Change", exact=True).select_option(label="Rises by")
    page.get_by_label("At least (percentage points)").fill("0.01")
    page.get_by_label("Minimum dialogs").fill("1")
    page.get_by_label("Only significant changes").uncheck()
    page.get_by_role("button", name="Create alert").click()
    page.get_by_text("Alert made: Exit rate of each slot rises by at least 0.01 pp").wait_for()
    [message] = smtp.wait_for_messages(1, timeout=60)
    assert message["Subject"].startswith("Exit rate rose at ") and message["To"] == "demo@slotlens.local"
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"The \d+ dialogs behind it: (\S+)", body).group(1)
    assert re.search(r"before \d+\.\d\d%, now \d+\.\d\d%, change \+\d+\.\d\d pp \(\d+ dialogs; \d+ before\)", body)
    page.goto(link)
    assert page.get_by_role("heading", level=1).inner_text().startswith("Dialogs")
    page.goto(stack.base_url + "/subscriptions")
    assert page.get_by_text(re.compile(r"Last check: .*crossed the threshold, emailed")).is_visible()
