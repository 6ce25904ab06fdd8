"""Real processes for end-to-end tests: the web server, `huey_consumer` workers,
the `flask` CLI, and an SMTP server (aiosmtpd) that keeps what it receives."""
import contextlib
import copy
import email
import email.policy
import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import date, datetime, timedelta, timezone

import psycopg2
from aiosmtpd.controller import Controller

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout=30, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class SmtpSink:
    """A real SMTP server; `messages` are parsed emails as accepted.

    Recipients in `refuse` are refused with a permanent 550, as a real server does
    for an unknown mailbox. `fault` makes it misbehave at one step of the
    conversation, as real servers and networks do:

    - "data-451-once": the first message is answered 451 (try again later);
    - "data-554": every message is rejected for good;
    - "drop-during-data-once": the first connection is cut before DATA is answered;
    - "reset-after-data": the message is accepted, then the connection is reset;
    - "drop-at-quit": the message is accepted, the connection is cut at QUIT.
    """

    FAULTS = ("data-451-once", "data-554", "drop-during-data-once", "reset-after-data", "drop-at-quit")

    def __init__(self, port=None, refuse=(), fault=None):
        assert fault in (None, *self.FAULTS), fault
        self.messages = []
        self.received_at = []
        self.refuse = set(refuse)
        self.fault = fault
        self.faults_shown = 0
        self._lock = threading.Lock()
        self.port = port or free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        first = self.faults_shown == 0
        if self.fault == "data-554":
            self.faults_shown += 1
            return "554 5.6.0 Message rejected"
        if self.fault == "data-451-once" and first:
            self.faults_shown += 1
            return "451 4.3.0 Try again later"
        if self.fault == "drop-during-data-once" and first:
            self.faults_shown += 1
            server.transport.abort()
            return "250 OK"  # never reaches the client
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.received_at.append(time.monotonic())
        if self.fault == "reset-after-data":
            self.faults_shown += 1
            await server.push("250 OK")
            server.transport.abort()
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        if self.fault == "drop-at-quit":
            self.faults_shown += 1
            server.transport.abort()
        return "221 Bye"

    def wait_for_messages(self, count, timeout=30):
        wait_for(lambda: len(self.messages) >= count, timeout, what=f"{count} email(s)")
        return list(self.messages)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class Stack:
    """Slotlens as users run it: a database, a queue, a web server and workers.

    By default one SQLite file and an SQLite queue; pass `database_url` and
    `queue_url` (and a `queue_name` of its own) for PostgreSQL and Redis.
    """

    def __init__(self, folder, smtp_port, database_url=None, queue_url=None, queue_name="slotlens", **settings):
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.database = os.path.join(self.folder, "slotlens.db")
        self.database_url = database_url or f"sqlite:///{self.database}"
        self.env = {
            **os.environ,
            "FLASK_SECRET_KEY": "end-to-end-secret-key-0123456789-abcdef",
            "FLASK_DATABASE_URL": self.database_url,
            "FLASK_QUEUE_URL": queue_url or f"sqlite:///{os.path.join(self.folder, 'queue.db')}",
            "FLASK_QUEUE_NAME": queue_name,
            "FLASK_REPORTS_DIR": os.path.join(self.folder, "reports"),
            "FLASK_IMPORTS_DIR": os.path.join(self.folder, "imports"),
            "FLASK_BASE_URL": self.base_url,
            "FLASK_MAIL_SERVER": "127.0.0.1",
            "FLASK_MAIL_PORT": str(smtp_port),
            **{f"FLASK_{name}": str(value) for name, value in settings.items()},
        }
        self.processes = []

    def cli(self, *args):
        """Run `flask --app app ARGS`; returns its output, fails the test on error."""
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def _start(self, name, command, **env):
        log = open(os.path.join(self.folder, f"{name}.log"), "ab")
        process = subprocess.Popen(command, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def start_web(self):
        process = self._start("web", [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(self.web_port)])
        wait_for(self._web_answers, what="the web server")
        return process

    def start_gunicorn(self, workers=3, threads=4):
        """The web server as the container runs it: several processes, each with threads."""
        command = [
            os.path.join(BIN, "gunicorn"), "--bind", f"127.0.0.1:{self.web_port}",
            "--workers", str(workers), "--threads", str(threads), "app:create_app()",
        ]
        process = self._start("web", command)
        wait_for(self._web_answers, what="gunicorn")
        return process

    def start_entrypoint(self, mode="all"):
        """`docker-entrypoint.sh MODE` exactly as the container runs it, logging to container.log."""
        path = BIN + os.pathsep + os.environ["PATH"]
        process = self._start("container", ["bash", "docker-entrypoint.sh", mode], PATH=path, PORT=str(self.web_port), WEB_WORKERS="1")
        wait_for(self._web_answers, timeout=60, what="the container's web server")
        return process

    def _web_answers(self):
        try:
            urllib.request.urlopen(self.base_url + "/login", timeout=1).close()
            return True
        except OSError:
            return False

    def start_worker(self, workers=2):
        command = [os.path.join(BIN, "huey_consumer"), "worker.huey", "-w", str(workers), "-k", "thread", "-m", "0.5"]
        return self._start("worker", command)

    def api(self, method, path, key, payload):
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(payload).encode(),
            method=method,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def logs(self):
        text = ""
        for name in ("web", "worker"):
            path = os.path.join(self.folder, f"{name}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f"--- {name}.log\n{f.read()[-5000:]}\n"
        return text

    def query(self, sql):
        """Rows of `sql`, straight from the database (SQLite or PostgreSQL)."""
        if self.database_url.startswith("sqlite"):
            with sqlite3.connect(self.database) as db:
                return db.execute(sql).fetchall()
        with psycopg2.connect(self.database_url) as db, db.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    def summaries(self):
        """Each dialog's stored summary: external id -> (start, counted, stop slot key)."""
        rows = self.query(
            "SELECT d.external_id, d.started_at, d.is_counted, s.key FROM dialog d"
            " LEFT JOIN slot s ON s.id = d.stop_slot_id"
        )
        return {ext: (str(start), bool(counted), key) for ext, start, counted, key in rows}

    def recount(self):
        """The same summaries recomputed from the raw events, as an oracle."""
        rows = self.query(
            "SELECT d.external_id,"
            " (SELECT MIN(e.timestamp) FROM event e WHERE e.dialog_id = d.id),"
            " (SELECT COUNT(*) FROM event e WHERE e.dialog_id = d.id AND e.sender = 'user') > 0,"
            " (SELECT s.key FROM event e JOIN slot s ON s.id = e.slot_id WHERE e.dialog_id = d.id"
            "  ORDER BY e.timestamp DESC, e.id DESC LIMIT 1)"
            " FROM dialog d"
        )
        return {ext: (str(start), bool(counted), key) for ext, start, counted, key in rows}

    def item_states(self):
        """(agent name, state, error, attempts) of every export item."""
        return self.query(
            "SELECT agent.name, export_item.state, export_item.error, export_item.attempts FROM export_item"
            " JOIN agent ON agent.id = export_item.agent_id ORDER BY export_item.id"
        )

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


ANALYST_PASSWORD = "analyst password 1"
SLOTS = [
    {"key": "greet", "name": "Greeting", "type": "message", "text": "Hello!\nSecond line, with \"quotes\""},
    {"key": "ask", "name": "Ask order", "type": "question", "text": "=Your order number?"},
    {"key": "ru", "name": "Приветствие", "type": "message", "text": "Здравствуйте 👋"},
]


def dialog_events(prefix, count, slot, hours_ago=1):
    """`count` counted dialogs that stopped at `slot`, started `hours_ago` hours ago."""
    when = (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).isoformat()
    return [
        event
        for i in range(count)
        for event in (
            {"dialog_id": f"{prefix}-{i}", "channel": "web", "sender": "bot", "slot": slot, "timestamp": when},
            {"dialog_id": f"{prefix}-{i}", "channel": "web", "sender": "user", "text": "ok", "timestamp": when},
        )
    ]


@contextlib.contextmanager
def postgres_database(server_url):
    """A PostgreSQL database of its own for one test, dropped afterwards."""
    name = f"slotlens_e2e_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def seeded_stack(folder, smtp_port, workers=2, **settings):
    """A running Slotlens with two agents and their data, an analyst who sees both,
    and another account who sees neither. The worker runs unless workers=0."""
    stack = Stack(folder, smtp_port, **settings)
    stack.cli("init-db")
    stack.cli("create-user", "analyst@example.com", "--password", ANALYST_PASSWORD)
    stack.cli("create-user", "other@example.com", "--password", ANALYST_PASSWORD)
    keys = {}
    for name in ("Support Bot", "Sales Bot"):
        keys[name] = stack.cli("create-agent", name).strip().rsplit(" ", 1)[1]
        stack.cli("grant", "analyst@example.com", name)
    stack.keys = keys
    stack.start_web()
    if workers:
        stack.start_worker(workers)
    stack.api("PUT", "/api/v1/slots", keys["Support Bot"], SLOTS)
    stack.api("POST", "/api/v1/events", keys["Support Bot"], dialog_events("g", 3, "greet") + dialog_events("a", 2, "ask"))
    stack.api("POST", "/api/v1/events", keys["Sales Bot"], dialog_events("s", 1, "ru", hours_ago=24 * 40))
    return stack


class Browserless:
    """A cookie-keeping HTTP client that posts forms with their CSRF token, like a browser."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def twin(self):
        """Another client in the same session (this one's cookies, copied into a jar of its own)."""
        twin = Browserless(self.base_url)
        for cookie in self.cookies:
            twin.cookies.set_cookie(copy.copy(cookie))
        return twin

    def get(self, path):
        try:
            with self.opener.open(self.base_url + path if path.startswith("/") else path, timeout=30) as r:
                return r.status, r.read(), r.geturl()
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.url

    def csrf_token(self, page):
        """The CSRF token the form on `page` carries for this client's session."""
        _, html, _ = self.get(page)
        return re.search(rb'name="csrf_token"(?: type="hidden")? value="([^"]+)"', html).group(1).decode()

    def _post(self, action, body):
        try:
            with self.opener.open(self.base_url + action, data=body, timeout=60) as r:
                return r.status, r.read(), r.geturl()
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.url

    def post_form(self, page, action, fields):
        body = urllib.parse.urlencode({**fields, "csrf_token": self.csrf_token(page)}, doseq=True).encode()
        return self._post(action, body)

    def post_at_once(self, page, action, fields, times):
        """POST the same form `times` times at the same moment, as many clicks or a
        script would; returns (status, body) of each, in the order they finished.
        Each POST follows its redirect with the cookie its own answer set (a twin
        client each), so each page shows its own request's message."""
        body = urllib.parse.urlencode({**fields, "csrf_token": self.csrf_token(page)}, doseq=True).encode()
        barrier, results = threading.Barrier(times), []

        def post(client):
            barrier.wait()
            status, answer, _ = client._post(action, body)
            results.append((status, answer.decode(errors="replace")))

        threads = [threading.Thread(target=post, args=(self.twin(),)) for _ in range(times)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def login(self, email, password=ANALYST_PASSWORD):
        return self.post_form("/login", "/login", {"email": email, "password": password})

    def export(self, agent_ids, days=7, kind=None):
        """Click Stop slots (or the button of another report `kind`) for these agents
        over the last `days` days."""
        today = date.today()
        fields = {
            "agents": [str(i) for i in agent_ids],
            "date_from": str(today - timedelta(days=days - 1)),
            "date_to": str(today),
            "action": f"export:{kind}" if kind else "export",
        }
        return self.post_form("/analytics", "/analytics", fields)
