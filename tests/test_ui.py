"""What a person meets in the browser: accessibility (axe-core), the export flow with
the keyboard alone, a phone-sized screen, and the README's screenshot script."""
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from devtools.mailcatcher import SaveToFolder
from devtools.processes import ANALYST_PASSWORD, ROOT, free_port, seeded_stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ADMIN_PASSWORD = "admin password 1"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Slotlens with data, an admin, one sent export each, and the Outbox's mail catcher."""
    folder = tmp_path_factory.mktemp("ui")
    outbox = str(folder / "outbox")
    port = free_port()
    controller = Controller(SaveToFolder(outbox), hostname="127.0.0.1", port=port)
    controller.start()
    stack = seeded_stack(folder, port, MAIL_CATCHER_DIR=outbox)
    stack.cli("create-user", "admin@example.com", "--password", ADMIN_PASSWORD, "--admin")
    yield stack, outbox
    stack.stop()
    controller.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"no browser at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def logged_in(browser, site, email, password, viewport=None, locale="en-US"):
    """A page logged in as `email`, in a browser whose language is `locale`."""
    stack, _ = site
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, accept_downloads=True, locale=locale)
    page = context.new_page()
    page.goto(stack.base_url + "/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(re.compile(r"/analytics"))
    page.locator("main h1").first.wait_for()
    return page


def pages_of(site, page, is_admin):
    """Every page a person of this kind can reach, with one sent and one expired export."""
    stack, _ = site
    page.locator("button[name=action][value=export]").click()
    page.locator("main .flash").first.wait_for()
    # sent (or expired since: another test may have aged the links)
    wait_for(lambda: all(state in ("sent", "expired") for _, state, _, _ in stack.item_states()), what="the export to be sent")
    paths = ["/analytics", "/analytics?view=slot-funnel", "/analytics?view=slot-paths", "/dialogs", "/dialogs/1", "/exports",
             "/subscriptions", "/outbox", "/account/password", "/no-such-page"]
    if is_admin:
        paths += ["/admin/", "/admin/queue", "/admin/import/", finished_import(site, page), "/admin/agents/1", "/admin/agents/1/slots/1",
                  "/admin/audit"]
    else:
        paths += ["/admin/"]  # refused: the 403 page
    return paths


def finished_import(site, page):
    """The page of an import the worker finished with a line skipped (its figures and
    reasons are the page's widest parts), uploaded once through the import page."""
    stack, _ = site
    with sqlite3.connect(stack.database) as db:
        done = db.execute("SELECT id FROM import_job WHERE state = 'done' AND skipped > 0 AND file_name = 'one-skipped.jsonl'").fetchone()
    if done:
        return f"/admin/import/{done[0]}"
    upload = os.path.join(stack.folder, "one-skipped.jsonl")
    with open(upload, "w", encoding="utf-8") as events:
        events.write('{"dialog_id": "import-1", "channel": "web", "sender": "user", "timestamp": "2026-03-01T10:00:00Z"}\n{"dialog_id": 1}\n')
    page.goto(stack.base_url + "/admin/import/")
    page.locator("#import-form input[type=file]").set_input_files(upload)
    page.locator("#import-form button[type=submit]").click()
    page.locator("#import-skips").wait_for(timeout=60_000)
    return page.url.removeprefix(stack.base_url)


def serious_violations(page):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_every_page_passes_axe(site, browser, who):
    email, password = ("analyst@example.com", ANALYST_PASSWORD) if who == "analyst" else ("admin@example.com", ADMIN_PASSWORD)
    anonymous = browser.new_page()
    problems = {}
    for path in ("/login", "/login/forgot", "/login/reset/not-a-token"):
        anonymous.goto(site[0].base_url + path)
        problems[path] = serious_violations(anonymous)
    page = logged_in(browser, site, email, password)
    for path in pages_of(site, page, who == "admin"):
        page.goto(site[0].base_url + path)
        problems[path] = serious_violations(page)
    page.goto(site[0].base_url + "/exports")
    download = page.get_by_role("link", name="Download").first.get_attribute("href")
    with sqlite3.connect(site[0].database) as db:
        db.execute("UPDATE export_item SET expires_at = '2000-01-01 00:00:00'")
    page.goto(site[0].base_url + download)
    problems["410 page"] = serious_violations(page)
    assert {path: found for path, found in problems.items() if found} == {}


def test_the_export_flow_with_the_keyboard_alone(site, browser):
    stack, _ = site
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(stack.base_url + "/login")

    def tab_to(accessible_name, limit=60):
        for _ in range(limit):
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "() => { const e = document.activeElement; return (e.innerText || e.value || '') + '|' + (e.labels && e.labels[0] ? e.labels[0].innerText : ''); }"
            )
            if accessible_name in focused:
                return
        raise AssertionError(f"Tab never reached {accessible_name!r}")

    tab_to("|Email")
    page.keyboard.type("analyst@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(ANALYST_PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Analytics").wait_for()
    tab_to("Stop slots")
    page.keyboard.press("Enter")
    page.get_by_text("one email per agent").wait_for()
    # sent (or expired since: another test may have aged the links)
    wait_for(lambda: all(state in ("sent", "expired") for _, state, _, _ in stack.item_states()), what="the export to be sent")
    page.goto(stack.base_url + "/exports")
    tab_to("CSV")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.startswith("stop-slots_")


WIDER_THAN_THE_SCREEN = """() => {
  const overflow = document.documentElement.scrollWidth - window.innerWidth;
  return overflow > 0 ? [`${overflow}px wider than the screen`] : [];
}"""


@pytest.mark.parametrize(
    "path",
    ["/analytics", "/analytics?view=slot-funnel", "/analytics?view=slot-paths", "/exports", "/outbox", "/admin/", "/admin/queue",
     "/admin/agents/1"],
)
def test_nothing_scrolls_sideways_on_a_phone(site, browser, path):
    page = logged_in(browser, site, "admin@example.com", ADMIN_PASSWORD, viewport={"width": 375, "height": 760})
    page.goto(site[0].base_url + path)
    assert page.evaluate(WIDER_THAN_THE_SCREEN) == [], path


WORDS_SPLIT_ACROSS_LINES = r"""() => {
  // Every word (an e-mail address, a role, a header's word) of every visible table
  // header and cell, with the lines it is laid out on: more than one is a split word.
  // A break at a hyphen, a dash or a slash is between words.
  const split = [];
  for (const cell of document.querySelectorAll("main th, main td")) {
    if (!cell.checkVisibility()) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.parentElement.checkVisibility() || node.parentElement.closest(".visually-hidden")) continue;
      for (const word of node.textContent.matchAll(/[^\s\-–—\/]+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.bottom)));
        if (lines.size > 1) split.push(`${cell.tagName.toLowerCase()} "${word[0]}"`);
      }
    }
  }
  return split;
}"""


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_no_table_breaks_a_word_across_lines(site, browser, who, width):
    """Headers wrap between words, and e-mail addresses and roles stay whole, on a phone and on a desktop."""
    assert found_on_every_page(site, browser, who, width, WORDS_SPLIT_ACROSS_LINES, UNSAID_SCROLLING) == {}


UNSAID_SCROLLING = """() => [...document.querySelectorAll(".table-wrap")]
    .filter((wrap) => wrap.scrollWidth > wrap.clientWidth + 1 && !wrap.previousElementSibling?.classList.contains("scroll-hint"))
    .map((wrap) => "a table scrolls sideways without saying so")"""


def found_on_every_page(site, browser, who, width, *checks, locale="en-US"):
    """Per page a person of this kind reaches at this width, what the checks (scripts,
    or functions of the page, each returning a list of problems) found; pages without
    any are left out."""
    email, password = ("analyst@example.com", ANALYST_PASSWORD) if who == "analyst" else ("admin@example.com", ADMIN_PASSWORD)
    page = logged_in(browser, site, email, password, viewport={"width": width, "height": 900}, locale=locale)
    found = {}
    for path in pages_of(site, page, who == "admin"):
        page.goto(site[0].base_url + path)
        found[path] = [problem for check in checks for problem in (check(page) if callable(check) else page.evaluate(check))]
    return {path: problems for path, problems in found.items() if problems}


def test_your_account_is_one_tap_away_on_a_phone(site, browser):
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD, viewport={"width": 375, "height": 760})
    page.get_by_role("link", name="analyst@example.com").click()
    page.get_by_role("heading", name="Report files").wait_for()


def test_live_preview_and_quick_periods(site, browser):
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    page.get_by_role("button", name="Last 7 days").click()
    page.get_by_label("Sales Bot", exact=True).uncheck()
    wait_for(lambda: "Sales Bot" not in page.locator("#preview").inner_text(), timeout=10, what="the preview to follow")
    today = datetime.now(timezone.utc).date()  # the site runs in UTC
    assert page.get_by_label("From", exact=True).input_value() == (today - timedelta(days=6)).isoformat()
    assert page.get_by_label("To", exact=True).input_value() == today.isoformat()


def test_the_live_preview_shows_what_is_wrong_beside_the_filters(site, browser):
    """Before Show is clicked: the preview asks to fix the filters, and the filters say what to fix."""
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    page.get_by_label("From", exact=True).fill("2026-05-10")
    page.get_by_label("To", exact=True).fill("2026-05-01")
    expect(page.locator("#preview")).to_contain_text("Fix the filters above")
    expect(page.locator("#date_to-errors")).to_have_text("To must be on or after From.")
    page.get_by_label("Support Bot", exact=True).uncheck()
    page.get_by_label("Sales Bot", exact=True).uncheck()
    expect(page.locator("#agents-errors")).to_have_text("Pick at least one agent.")
    page.get_by_label("To", exact=True).fill("2026-05-20")
    page.get_by_label("Sales Bot", exact=True).check()
    expect(page.locator("#preview")).to_contain_text("Sales Bot")
    expect(page.locator("#date_to-errors")).to_have_text("")
    expect(page.locator("#agents-errors")).to_have_text("")


def test_the_words_of_the_reports_are_defined_beside_them(site, browser):
    """A newcomer learns what the page answers, and what each word means from a "?" reached by keyboard."""
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    expect(page.locator(".lede")).to_contain_text("where do you lose people?")
    expect(page.locator(".export-panel")).to_contain_text("a CSV per agent by email")

    def definition(word):
        question = page.locator("#preview").get_by_label(f"What does “{word}” mean?").first
        question.focus()
        page.keyboard.press("Enter")
        shown = question.locator("xpath=following-sibling::*[1]")
        expect(shown).to_be_visible()
        text = shown.inner_text()
        page.keyboard.press("Enter")
        expect(shown).to_be_hidden()
        return text

    assert definition("stop slot").startswith("The last slot a dialog reached")
    assert "the user wrote at least once" in definition("counted dialog")
    stop_slots = page.locator("#preview table").first
    stop_slots.get_by_role("button", name="Stop slot").click()  # the header still sorts beside its "?"
    assert stop_slots.locator("th").first.get_attribute("aria-sort") == "descending"
    page.get_by_label("Funnel", exact=True).check()
    page.get_by_role("heading", name="Slot funnel preview").wait_for()
    assert "ended there" in definition("exit rate")
    assert "went through the slot" in definition("reached")
    assert "counts twice here and once in Reached" in definition("times shown")
    assert definition("reach").startswith("Reached ÷ counted dialogs")
    funnel = page.locator("#preview table").first
    for column in ("Slot", "Reached", "Times shown", "Stopped", "Exit rate", "Reach"):  # the CSV's figures
        expect(funnel.get_by_role("columnheader", name=column, exact=True)).to_be_visible()
    expect(page.locator("#preview")).to_contain_text("Reached and Stopped count dialogs, Times shown counts showings")
    page.get_by_label("Paths", exact=True).check()
    page.get_by_role("heading", name="Slot paths preview").wait_for()
    expect(page.locator("#preview")).to_contain_text("Transitions count steps, not dialogs")
    assert "counts every step" in definition("transitions")
    assert "steps out of the From slot" in definition("share of from")
    assert "a dialog's first slot" in definition("(start)")
    assert "stopped at the From slot" in definition("(end)")


def test_a_bot_onboarded_from_the_browser_with_the_shown_curl_commands(site, browser):
    """Create an agent, copy its key, paste the page's own commands into a shell, and watch its data arrive."""
    page = logged_in(browser, site, "admin@example.com", ADMIN_PASSWORD)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(site[0].base_url + "/admin/")
    page.get_by_label("Name").fill("Onboarded Bot")
    page.get_by_role("button", name="Create agent").click()
    page.get_by_role("heading", name="Onboarded Bot").wait_for()
    expect(page.locator("#last-received")).to_have_text("nothing yet")
    page.locator("button[data-copy='key-line']").click()
    key_line = page.evaluate("navigator.clipboard.readText()")
    assert key_line.startswith("export SLOTLENS_API_KEY='sl_")
    commands = [page.locator(f"#{name}").inner_text() for name in ("put-slots", "post-events")]
    shell = subprocess.run(["bash", "-c", "\n".join([key_line, *commands])], capture_output=True, text=True, timeout=30)
    assert shell.returncode == 0 and '"stored":2' in shell.stdout.replace(" ", ""), shell.stdout + shell.stderr
    page.reload()
    expect(page.locator("#last-received")).to_contain_text("just now")
    expect(page.locator("#events-today")).to_have_text("2")
    assert "sl_" not in page.locator("main").inner_text().replace("sl_…", ""), "the key is shown once"

    page.get_by_text("Rotate key", exact=True).click()  # asks first
    page.get_by_role("button", name="Rotate Onboarded Bot's key now").click()
    page.get_by_text("has a new API key").wait_for()
    shell = subprocess.run(["bash", "-c", "\n".join([key_line, commands[1]])], capture_output=True, text=True, timeout=30)
    assert "missing or wrong API key" in shell.stdout, "the old key stopped at once"


def test_screenshot_script_runs(tmp_path, browser):
    result = subprocess.run(
        [sys.executable, "-m", "scripts.screenshots", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    expected = {"login.png", "analytics.png", "analytics-funnel.png", "analytics-paths.png", "exports.png", "email.png",
                "link-expired.png", "subscribe.png", "subscriptions.png", "import.png", "agent.png", "analytics-ru.png"}
    assert expected <= set(os.listdir(tmp_path))


def test_exports_page_updates_itself(tmp_path, browser):
    from devtools.processes import SmtpSink

    with SmtpSink() as smtp:
        stack = seeded_stack(tmp_path, smtp.port, workers=0)
        try:
            page = browser.new_page()
            page.goto(stack.base_url + "/login")
            page.get_by_label("Email").fill("analyst@example.com")
            page.get_by_label("Password").fill(ANALYST_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("button", name="Stop slots").click()
            page.goto(stack.base_url + "/exports")
            assert page.get_by_text("Queued (position 1)").count() == 1
            stack.start_worker()
            page.get_by_role("link", name="Download").first.wait_for(timeout=15_000)  # no reload by us
            assert page.get_by_text("Queued").count() == 0
        finally:
            stack.stop()


def test_the_preview_switches_between_the_three_reports(site, browser):
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    page.get_by_label("Funnel", exact=True).check()
    page.get_by_role("heading", name="Slot funnel preview").wait_for()
    funnel = page.locator("#preview table").first
    assert funnel.locator("tbody tr").first.locator("td").first.inner_text().startswith("Greeting")
    exit_rate = funnel.get_by_role("button", name="Exit rate")
    exit_rate.focus()
    page.keyboard.press("Enter")  # sorting works from the keyboard
    assert funnel.locator("th", has_text="Exit rate").get_attribute("aria-sort") == "descending"
    assert funnel.get_by_role("columnheader", name="Reached", exact=True).get_attribute("aria-sort") is None
    page.keyboard.press("Enter")
    assert funnel.locator("th", has_text="Exit rate").get_attribute("aria-sort") == "ascending"



def test_analytics_keeps_its_place_in_the_address(site, browser):
    """The view, each agent's focus slot and the filters live in the address: a reload,
    a shared link and an export come back to them. The preview follows every change, so
    there is no Show button; Paths' focus is picked per agent, in place."""
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    expect(page.get_by_role("button", name="Show")).to_be_hidden()
    expect(page.get_by_text("The preview follows your changes.")).to_be_visible()
    page.get_by_label("Funnel", exact=True).check()
    page.get_by_label("Sales Bot", exact=True).uncheck()
    expect(page).to_have_url(re.compile(r"view=slot-funnel"))
    page.get_by_text("Email me regularly").click()  # it offers the report on show
    expect(page.locator("input[name=kinds][value=slot-funnel]")).to_be_checked()
    expect(page.locator("input[name=kinds][value=stop-slots]")).not_to_be_checked()
    assert "frequency=" not in page.url and "alert-" not in page.url, "the address holds what the preview shows, no more"
    page.get_by_role("button", name="Slot funnel", exact=True).click()
    page.get_by_text("one email per agent").wait_for()
    page.get_by_role("heading", name="Slot funnel preview").wait_for()  # back where the export was asked for
    assert page.get_by_label("Funnel", exact=True).is_checked() and not page.get_by_label("Sales Bot", exact=True).is_checked()

    page.get_by_label("Sales Bot", exact=True).check()
    page.get_by_label("Paths", exact=True).check()
    page.get_by_role("heading", name="Slot paths preview").wait_for()
    page.evaluate("window.stillThisPage = true")
    support, sales = (page.get_by_label(f"Focus on slot of {name}") for name in ("Support Bot", "Sales Bot"))
    support.select_option(label="Ask order")
    page.get_by_text("Came to Ask order from").wait_for()
    assert page.evaluate("window.stillThisPage"), "picked without a reload"
    assert sales.locator("option").all_inner_texts() != support.locator("option").all_inner_texts(), "each agent's own slots"
    expect(page).to_have_url(re.compile(r"focus=\d+%3Aask(&|$)"))
    went = page.locator("table", has=page.get_by_text("Went from Ask order to"))
    assert "(end)" in went.inner_text()

    shared = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    shared.goto(page.url)
    shared.get_by_text("Came to Ask order from").wait_for()
    page.reload()
    assert page.get_by_label("Paths", exact=True).is_checked()
    expect(page.get_by_label("Focus on slot of Support Bot")).to_have_value(re.compile(r":ask$"))
    page.get_by_label("Stops", exact=True).check()
    page.get_by_role("heading", name="Stop slots preview").wait_for()
    expect(page.get_by_label("Focus on slot of Support Bot")).to_have_count(0)
    page.get_by_label("Paths", exact=True).check()
    page.get_by_text("Came to Ask order from").wait_for()  # the focus outlived the other view


def test_a_csv_log_imported_in_the_browser_with_a_real_worker(site, browser, tmp_path):
    """Admin → Import as a person does it: choose the file and its columns, watch the
    progress bar until the worker is done, then find the dialogs in the reports."""
    stack, _ = site
    stack.cli("create-agent", "Import Bot")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rows = ["Conversation;Time;Role;Step;Message"]
    for n in range(1500):
        at = (now - timedelta(hours=2, seconds=n)).replace(tzinfo=None).isoformat(sep=" ")
        rows += [f"c{n};{at};client;;hi", f"c{n};{at};operator;{'ask_size' if n % 3 else 'goodbye'};\"Which size?\nS; M or L\""]
    path = tmp_path / "helpdesk-export.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    page = logged_in(browser, site, "admin@example.com", ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()  # Import is in the admin's navigation
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").get_attribute("aria-current") == "page"
    page.get_by_label("Agent").select_option(label="Import Bot")
    page.get_by_label("CSV log").check()
    page.get_by_label("File").set_input_files(str(path))
    for label, column in (("Dialog id column", "Conversation"), ("Timestamp column", "Time"), ("Sender column", "Role"),
                          ("Slot column (optional)", "Step"), ("Text column (optional)", "Message")):
        expect(page.get_by_label(label)).to_have_value(column)  # guessed from the file's header
    expect(page.get_by_label("Sender values (optional)")).to_have_value("user=client,bot=operator")
    page.get_by_label("Time zone of times without an offset").fill("UTC")
    page.get_by_role("button", name="Import").click()
    page.get_by_role("heading", name="Done").wait_for(timeout=60_000)  # the page follows the worker by itself
    assert page.locator("#import-imported").inner_text() == "3000"
    assert page.locator("#import-skipped").inner_text() == "0"
    assert page.locator("#import-progress").evaluate("bar => bar.value === bar.max")
    assert os.listdir(os.path.join(stack.folder, "imports")) == []  # the upload is deleted
    page.get_by_role("link", name="See the reports").click()
    preview = page.locator("#preview")
    preview.get_by_text("ask_size").first.wait_for()
    assert "1,500 counted dialogs" in preview.inner_text()


def test_a_csv_log_mapped_from_its_own_header_imported_and_removed_again(site, browser, tmp_path):
    """The form reads the chosen file: its columns in a choice per field, guessed by
    name, its first rows, and a choice per sender value; a person corrects what was not
    guessed, imports, sees the skipped rows as a warning, then removes the import and
    finds the agent's reports empty again."""
    stack, _ = site
    stack.cli("create-agent", "Helpdesk Bot")
    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    rows = ["conversation;when;role;message;step"]
    for n in range(12):
        at = lambda minutes: (day + timedelta(hours=9, minutes=n * 5 + minutes)).isoformat()  # noqa: E731
        rows += [f"h{n};{at(0)};customer;Hello;", f"h{n};{at(1)};operator;How can I help?;greet",
                 f"h{n};{at(2)};system;Chat closed;"]
    path = tmp_path / "helpdesk.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page = logged_in(browser, site, "admin@example.com", ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Helpdesk Bot").click()
    page.get_by_role("link", name="Import files into Helpdesk Bot").click()
    assert page.get_by_label("Agent").locator("option:checked").inner_text() == "Helpdesk Bot"
    page.get_by_label("CSV log").check()
    page.get_by_label("File").set_input_files(str(path))
    expect(page.get_by_label("Dialog id column")).to_have_value("conversation")
    expect(page.get_by_label("Timestamp column")).to_have_value("when")
    expect(page.get_by_label("Sender column")).to_have_value("role")
    expect(page.get_by_label("Channel column (optional)")).to_have_value("")
    expect(page.get_by_label("Slot column (optional)")).to_have_value("step")
    expect(page.get_by_label("Text column (optional)")).to_have_value("message")
    first_rows = page.get_by_role("table", name="The file's first rows")
    assert first_rows.locator("tbody tr").count() == 5 and "How can I help?" in first_rows.inner_text()
    choices = page.get_by_role("group", name="What each sender value is")
    assert [choices.get_by_label(value).input_value() for value in ("customer", "operator", "system")] == ["user", "bot", "system"]
    choices.get_by_label("system").select_option("skip")
    expect(page.get_by_label("Sender values (optional)")).to_have_value("user=customer,bot=operator,skip=system")
    page.get_by_role("button", name="Import").click()
    page.get_by_role("heading", name="Done, with 12 rows skipped").wait_for(timeout=60_000)
    assert page.locator("#import-imported").inner_text() == "24"
    assert "12 rows: column 'role': 'system' is a sender chosen to be skipped (first: line 4)" in page.locator("#import-skips").inner_text()
    job_url = page.url
    page.get_by_role("link", name="See the reports").click()
    preview = page.locator("#preview")
    preview.get_by_text("greet").first.wait_for()
    assert "12 counted dialogs" in preview.inner_text()
    reports_url = page.url
    page.goto(job_url)
    page.get_by_text("Remove imported data").click()
    page.get_by_role("button", name="Remove the data imported from helpdesk.csv").click()
    page.get_by_text("Removed on ").wait_for(timeout=60_000)  # the page follows the worker by itself
    assert page.get_by_text("Remove imported data").count() == 0
    page.goto(reports_url)
    expect(page.locator("#preview")).to_contain_text("No counted dialogs in this period")


def test_email_me_regularly_says_when_as_the_fields_change(site, browser):
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    page.get_by_text("Email me regularly").click()
    when = page.locator("#subscription-when")
    assert when.inner_text().startswith("Every Monday at 09:00 UTC, covering the previous Monday–Sunday; first on")
    subscribe = page.locator("details.subscribe:not(.alert-me)")  # Alert me has a Daily and a Time of its own
    subscribe.get_by_label("Daily").check()
    subscribe.get_by_label("Time").fill("07:15")
    subscribe.get_by_label("Time").dispatch_event("change")
    # polled from Python: a wait_for_function string would be eval'd in the page, which the CSP forbids
    expect(when).to_have_text(re.compile(r"^Every day at 07:15 UTC"))


def contrast(rgb_a, rgb_b):
    """WCAG contrast ratio of two 'rgb(r, g, b)' colours."""
    def luminance(rgb):
        channels = [int(v) / 255 for v in re.findall(r"\d+", rgb)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(rgb_a), luminance(rgb_b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


FOCUS_AND_BACKGROUND = """() => {
  const element = document.activeElement;
  let around = element.parentElement;
  while (around && getComputedStyle(around).backgroundColor === "rgba(0, 0, 0, 0)") around = around.parentElement;
  return [getComputedStyle(element).outlineColor, around ? getComputedStyle(around).backgroundColor : "rgb(255, 255, 255)"];
}"""


def test_the_focus_outline_stands_out_where_it_is_drawn(site, browser):
    """WCAG 2.2 non-text contrast: the keyboard focus ring is at least 3:1 against what surrounds it."""
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    seen = {}
    for _ in range(12):
        page.keyboard.press("Tab")
        in_topbar = page.evaluate("() => !!document.activeElement.closest('.topbar')")
        outline, background = page.evaluate(FOCUS_AND_BACKGROUND)
        seen.setdefault(in_topbar, contrast(outline, background))
    assert set(seen) == {True, False}, "tabbed through the top bar and into the page"
    assert min(seen.values()) >= 3, seen


def test_the_chart_keeps_readable_text_and_whole_names_on_a_phone(site, browser):
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD, viewport={"width": 375, "height": 800})
    sizes = page.eval_on_selector_all(".chart-label, .chart-value", "nodes => nodes.map(n => parseFloat(getComputedStyle(n).fontSize))")
    assert sizes and min(sizes) >= 12
    labels = page.eval_on_selector_all(".chart-label", "nodes => nodes.map(n => n.scrollWidth <= n.clientWidth)")
    assert all(labels), "no name is cut off"


CLIPPED_CONTROLS = """() => [...document.querySelectorAll("button, a.button, summary, input, select, textarea")]
    .filter((control) => control.getClientRects().length && getComputedStyle(control).visibility !== "hidden")
    .filter((control) => !control.closest(".table-wrap"))  // a table that scrolls sideways brings it into view (see scroll-hint)
    .map((control) => {
      const card = control.closest(".card, .topbar");
      const box = control.getBoundingClientRect();
      const frame = card ? card.getBoundingClientRect() : { left: 0, right: window.innerWidth };
      const outside = box.left < Math.max(frame.left, 0) - 1 || box.right > Math.min(frame.right, window.innerWidth) + 1;
      return outside ? `${control.outerHTML.slice(0, 90)}: ${Math.round(box.left)}..${Math.round(box.right)} px` : null;
    })
    .filter(Boolean)"""


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_no_control_is_clipped_by_its_card_or_the_screen(site, browser, who, width):
    assert found_on_every_page(site, browser, who, width, CLIPPED_CONTROLS) == {}


def test_revoking_access_asks_first_and_fits_the_card(site, browser):
    stack, _ = site
    stack.cli("create-user", "temp@example.com", "--password", ADMIN_PASSWORD)
    stack.cli("grant", "temp@example.com", "Sales Bot")
    page = logged_in(browser, site, "admin@example.com", ADMIN_PASSWORD)
    page.goto(stack.base_url + "/admin/")
    card = page.locator("section.card", has=page.get_by_role("heading", name="Access")).bounding_box()
    for summary in page.locator("details.confirm summary").all():
        box = summary.bounding_box()
        assert card["x"] <= box["x"] and box["x"] + box["width"] <= card["x"] + card["width"], "Revoke stays on the card"
    row = page.locator("tr", has_text="temp@example.com")
    row.get_by_text("Revoke", exact=True).click()  # opens the question; nothing is revoked yet
    assert stack.query("SELECT COUNT(*) FROM \"grant\" JOIN account ON account.id = account_id WHERE email = 'temp@example.com'")[0][0] == 1
    row.get_by_role("button", name="Revoke temp@example.com's access to Sales Bot").click()
    page.get_by_text("Access revoked.").wait_for()
    assert stack.query("SELECT COUNT(*) FROM \"grant\" JOIN account ON account.id = account_id WHERE email = 'temp@example.com'")[0][0] == 0


def test_the_download_button_of_an_email_in_the_outbox_opens_in_a_new_tab(site, browser):
    """The frame may open tabs but runs no scripts, and its links (and the text's) aim at a new tab."""
    stack, outbox = site
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    before = len([name for name in os.listdir(outbox) if name.endswith(".eml")])
    page.get_by_role("button", name="Stop slots").click()
    wait_for(lambda: len([name for name in os.listdir(outbox) if name.endswith(".eml")]) > before, what="a new email")
    page.goto(stack.base_url + "/outbox")
    iframe = page.locator("details[open] iframe").first
    assert set(iframe.get_attribute("sandbox").split()) == {"allow-popups", "allow-popups-to-escape-sandbox"}
    frame = page.frame_locator("details[open] iframe").first
    link = frame.get_by_role("link", name="Download the CSV")
    assert link.evaluate("a => a.target || document.querySelector('base')?.target") == "_blank"
    assert link.evaluate("a => a.href").startswith(stack.base_url + "/exports/download/")
    assert page.locator("details[open] pre a").first.get_attribute("target") == "_blank"


def test_exports_rows_line_up_and_their_buttons_fit_a_phone(site, browser):
    stack, _ = site
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    page.get_by_role("button", name="Stop slots").click()
    wait_for(lambda: not any(state in ("queued", "building") for _, state, _, _ in stack.item_states()), what="the export to end")
    page.goto(stack.base_url + "/exports")
    edges = page.eval_on_selector_all(".export-request tbody tr", """rows => rows.map(row =>
        [...row.cells].map(cell => { const box = cell.getBoundingClientRect(); return [box.top, box.bottom]; }))""")
    assert edges and all(len({tuple(round(v) for v in cell) for cell in row}) == 1 for row in edges), "cells of a row share their borders"
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    buttons = page.locator(".export-request .actions .button, .export-request .actions button").all()
    assert buttons
    for button in buttons:
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, "the button is on the screen"


def test_the_chosen_quick_period_is_marked(site, browser):
    page = logged_in(browser, site, "analyst@example.com", ANALYST_PASSWORD)
    chips = page.locator(".presets button")
    assert page.get_by_role("button", name="Last 30 days").get_attribute("aria-pressed") == "true"  # the default period
    page.get_by_role("button", name="Last 7 days").click()
    assert page.get_by_role("button", name="Last 7 days").get_attribute("aria-pressed") == "true"
    assert [chip.get_attribute("aria-pressed") for chip in chips.all()].count("true") == 1
    page.get_by_label("From").fill("2026-01-01")
    page.get_by_label("From").dispatch_event("change")
    assert [chip.get_attribute("aria-pressed") for chip in chips.all()].count("true") == 0


def test_an_admin_renames_a_slot_on_the_agents_page_and_the_reports_follow(site, browser):
    page = logged_in(browser, site, "admin@example.com", ADMIN_PASSWORD)
    page.goto(site[0].base_url + "/admin/agents/1#slots")
    slots = page.locator("#slots")
    expect(slots.locator("tr", has_text="Ask order")).to_contain_text("question")

    def rename(name):
        page.get_by_role("link", name="Edit slot ask", exact=True).click()
        page.get_by_label("Name").fill(name)
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Slot ask saved").wait_for()

    rename("Order number question")
    page.goto(site[0].base_url + "/analytics?view=slot-funnel")
    expect(page.locator("#preview")).to_contain_text("Order number question")
    page.goto(site[0].base_url + "/admin/agents/1#slots")
    rename("Ask order")  # as the other tests know it
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    with open(download.value.path(), encoding="utf-8") as catalogue:
        assert "ask,Ask order,question" in catalogue.read()


ENGLISH_WORDS = """(data) => {
  // The Latin-letter words a person reads on the page (text, and the names of controls
  // and images), apart from data (agent, slot, channel and account names, users' texts,
  // e-mail addresses: `data` holds them), code, and what is marked translate="no".
  for (const details of document.querySelectorAll("details")) details.open = true;  // their texts count too
  const spared = new Set(["Slotlens", "CSV", "XLSX", "xlsx", "API", "UTC", "JSON", "Excel", "LibreOffice", "Google", "Rasa", "curl", "HTTP", "HTTPS", "URL", "ID", "SQL", "YAML", "PDF"]);
  const found = new Set();
  const inAnotherLanguage = (element) => !(element.closest("[lang]")?.lang || "ru").startsWith("ru");
  const isData = (element) => element.closest("code, pre, kbd, samp, [translate=no], script, style") || inAnotherLanguage(element);
  const scan = (text) => {
    for (const item of data) text = text.split(item).join(" ");
    text = text.replace(/\\S+@\\S+/g, " ").replace(/https?:\\/\\/\\S+/g, " ");
    for (const word of text.matchAll(/[A-Za-z][A-Za-z'’]+/g)) if (!spared.has(word[0])) found.add(word[0]);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || isData(parent) || !parent.checkVisibility() && !parent.closest(".visually-hidden")) continue;
    scan(node.textContent);
  }
  for (const element of document.querySelectorAll("[title], [aria-label], [placeholder], [alt], input[type=submit], input[type=button]")) {
    if (isData(element)) continue;
    for (const name of ["title", "aria-label", "placeholder", "alt", "value"]) {
      if (element.hasAttribute(name) && (name !== "value" || ["submit", "button"].includes(element.type))) scan(element.getAttribute(name));
    }
  }
  scan(document.title);
  return [...found].map((word) => `English word: ${word}`);
}"""


def data_of(site):
    """The names and texts stored for the site's agents and people: data, shown as written."""
    with sqlite3.connect(site[0].database) as db:
        rows = db.execute(
            "SELECT name FROM agent UNION SELECT slug FROM agent UNION SELECT key FROM slot UNION SELECT name FROM slot"
            " UNION SELECT type FROM slot UNION SELECT text FROM slot UNION SELECT name FROM channel UNION SELECT email FROM account"
            " UNION SELECT file_name FROM import_job"
            " UNION SELECT DISTINCT text FROM event"
        ).fetchall()
    return sorted({value for (value,) in rows if value}, key=len, reverse=True)


def in_russian(site, check):
    """`check` (a script taking the data's names) as a function of the page; the data
    as it is when the page is checked (a page may have added some, an import's file name)."""
    return lambda page: page.evaluate(check, data_of(site))


@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_every_page_speaks_russian_to_a_russian_browser(site, browser, who):
    """Every page an analyst or an admin reaches, with a browser set to Russian, has no
    English word of the interface left: only data, code and names that stay as written."""
    assert found_on_every_page(site, browser, who, 1280, in_russian(site, ENGLISH_WORDS), locale="ru-RU") == {}


@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_in_russian_every_page_passes_axe_and_fits_a_phone(site, browser, who):
    """Russian words are longer: on a 375 px screen nothing is clipped, no table word is
    split, and axe-core finds nothing serious."""
    problems = found_on_every_page(
        site, browser, who, 375, CLIPPED_CONTROLS, WORDS_SPLIT_ACROSS_LINES, UNSAID_SCROLLING, WIDER_THAN_THE_SCREEN, serious_violations,
        locale="ru-RU"
    )
    assert problems == {}


def test_the_log_in_pages_speak_russian_to_a_russian_browser(site, browser):
    page = browser.new_context(locale="ru-RU").new_page()
    found = {}
    for path in ("/login", "/login/forgot", "/login/reset/not-a-token", "/no-such-page"):
        page.goto(site[0].base_url + path)
        found[path] = page.evaluate(ENGLISH_WORDS, data_of(site)) + serious_violations(page)
    assert {path: words for path, words in found.items() if words} == {}


def test_the_russian_admin_navigation_is_one_row_on_a_laptop(site, browser):
    """Eight links with Russian's longer words still fit beside the brand and the account at 1280 px."""
    page = logged_in(browser, site, "admin@example.com", ADMIN_PASSWORD, locale="ru-RU")
    tops = page.eval_on_selector_all(".topbar nav a", "links => links.map((link) => Math.round(link.getBoundingClientRect().top))")
    assert len(tops) == 8 and len(set(tops)) == 1, tops
