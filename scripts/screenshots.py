"""Screenshots of the main pages, from demo data, for the README.

    .venv/bin/python -m scripts.screenshots            # writes docs/screenshots/*.png
    .venv/bin/python -m scripts.screenshots --out DIR  # anywhere else (the test suite does this)

Runs Slotlens as `make run` does (web, worker, local mail catcher) in a temporary
folder and drives Debian's Chromium through Playwright.
"""
import argparse
import email
import email.policy
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

from playwright.sync_api import sync_playwright

from devtools.demo import DEMO_ADMIN
from devtools.processes import ROOT, Stack, free_port, wait_for

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 760}


def start(folder):
    """Slotlens with demo data and a mail catcher whose emails the Outbox shows."""
    mail_port = free_port()
    outbox = os.path.join(folder, "outbox")
    stack = Stack(folder, mail_port, MAIL_CATCHER_DIR=outbox)
    catcher = subprocess.Popen(
        [sys.executable, "-m", "devtools.mailcatcher", outbox, "--port", str(mail_port)], cwd=ROOT, stdout=subprocess.DEVNULL
    )
    stack.processes.append(catcher)
    stack.cli("init-db")
    stack.cli("demo-data")
    stack.start_web()
    stack.start_worker()
    return stack, outbox


def take(out):
    os.makedirs(out, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="slotlens-shots-")
    stack, outbox = start(folder)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=DESKTOP)

            def shot(name, full_page=True):
                page.screenshot(path=os.path.join(out, f"{name}.png"), full_page=full_page)
                print(f"  {name}.png")

            page.goto(stack.base_url + "/login")
            shot("login", full_page=False)
            page.get_by_label("Email").fill(DEMO_ADMIN[0])
            page.get_by_label("Password").fill(DEMO_ADMIN[1])
            page.get_by_role("button", name="Log in").click()
            page.get_by_text("Stop slots preview").wait_for()
            shot("analytics")
            page.locator(".agent-preview td.num a").first.click()
            page.get_by_role("button", name="Export transcripts").wait_for()
            shot("dialogs", full_page=False)
            page.locator("td[data-label='Dialog ID'] a").first.click()
            page.locator("li.line.marked").first.wait_for()
            shot("transcript")
            for view, name in (("slot-funnel", "Slot funnel"), ("slot-paths", "Slot paths")):
                today = datetime.now(timezone.utc).date()
                period = f"date_from={today - timedelta(days=29)}&date_to={today}"
                page.goto(f"{stack.base_url}/analytics?view={view}&agents=1&{period}")
                page.get_by_text(f"{name} preview").wait_for()
                shot(f"analytics-{view.removeprefix('slot-')}")
            page.goto(stack.base_url + "/analytics")
            page.get_by_role("button", name="Stop slots").click()
            page.get_by_text("one email per agent").wait_for()
            wait_for(lambda: len([n for n in os.listdir(outbox) if n.endswith(".eml")]) >= 3, timeout=60, what="emails")
            page.goto(stack.base_url + "/exports")
            shot("exports")
            page.goto(stack.base_url + "/outbox")
            shot("email")
            page.goto(stack.base_url + "/analytics")
            page.get_by_text("Email me regularly").click()
            page.get_by_label("Slot funnel").check()
            page.locator(".export-panel").screenshot(path=os.path.join(out, "subscribe.png"))
            print("  subscribe.png")
            page.get_by_role("button", name="Subscribe").click()
            page.get_by_role("heading", name="Subscriptions").wait_for()
            shot("subscriptions")
            compare_and_alert(stack, page, shot, outbox)
            page.goto(stack.base_url + "/admin/import/")
            shot("import")
            page.goto(stack.base_url + "/admin/")
            shot("admin")
            page.get_by_role("link", name="Booking Assistant").click()
            page.get_by_role("heading", name="Data arriving").wait_for()
            shot("agent")
            page.goto(stack.base_url + "/admin/queue")
            shot("queue")
            page.goto(stack.base_url + "/outbox")
            href = page.locator("pre a[href*='/exports/download/']").first.get_attribute("href")
            with sqlite3.connect(stack.database) as db:
                db.execute("UPDATE export_item SET expires_at = '2000-01-01 00:00:00'")
            page.goto(href)
            shot("link-expired", full_page=False)
            page.set_viewport_size(PHONE)
            page.goto(stack.base_url + "/analytics")
            shot("analytics-phone")
            in_russian(stack, browser, out)
            browser.close()
    finally:
        stack.stop()


def in_russian(stack, browser, out):
    """Analytics as a browser set to Russian shows it (the account has not chosen a language)."""
    page = browser.new_context(viewport=DESKTOP, locale="ru-RU").new_page()
    page.goto(stack.base_url + "/login")
    page.locator("input[name=email]").fill(DEMO_ADMIN[0])
    page.locator("input[name=password]").fill(DEMO_ADMIN[1])
    page.locator("main button[type=submit]").click()
    page.locator(".agent-preview").first.wait_for()
    page.screenshot(path=os.path.join(out, "analytics-ru.png"), full_page=True)
    print("  analytics-ru.png")


def compare_and_alert(stack, page, shot, outbox):
    """Support Bot's last 7 days beside the 7 before (its reworded question), then an
    alert made on the EXPORT panel and the email the worker sends for it."""
    today = datetime.now(timezone.utc).date()
    page.goto(f"{stack.base_url}/analytics?view=slot-funnel&agents=1&date_from={today - timedelta(days=6)}&date_to={today}&compare=previous")
    page.get_by_text("Compared:").wait_for()
    shot("compare")
    page.goto(stack.base_url + "/analytics")  # every agent: some slot's exit rate rose yesterday, by chance alone
    page.get_by_text("Alert me").click()
    page.get_by_label("Exit rate of each slot").check()
    page.get_by_label("At least (percentage points)").fill("0.01")
    page.get_by_label("Minimum dialogs").fill("1")
    page.get_by_label("Only significant changes").uncheck()
    page.get_by_role("button", name="Create alert").click()
    page.get_by_text("Alert made").wait_for()

    def alert_email():
        for name in sorted(os.listdir(outbox)):
            with open(os.path.join(outbox, name), "rb") as f:
                message = email.message_from_binary_file(f, policy=email.policy.default)
            if message["Subject"].startswith("Exit rate"):
                return message.get_body(preferencelist=("html",)).get_content()
        return None

    wait_for(alert_email, timeout=60, what="the alert email")
    page.set_content(alert_email())
    shot("alert-email")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "screenshots"))
    args = parser.parse_args()
    started = time.perf_counter()
    take(args.out)
    print(f"Screenshots in {args.out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
