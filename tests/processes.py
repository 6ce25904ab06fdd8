"""Real processes for end-to-end tests: the web server, `huey_consumer` workers,
the `flask` CLI, and an SMTP server (aiosmtpd) that keeps what it receives."""
import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

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
    """A real SMTP server on a free port; `messages` are parsed emails as received."""

    def __init__(self):
        self.messages = []
        self.received_at = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.received_at.append(time.monotonic())
        return "250 OK"

    def wait_for_messages(self, count, timeout=30):
        wait_for(lambda: len(self.messages) >= count, timeout, what=f"{count} email(s)")
        return list(self.messages)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class Stack:
    """Slotlens as users run it: one SQLite database, a web server and a worker."""

    def __init__(self, folder, smtp_port, **settings):
        self.folder = str(folder)
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.database = os.path.join(self.folder, "slotlens.db")
        self.env = {
            **os.environ,
            "FLASK_SECRET_KEY": "end-to-end-secret-key-0123456789-abcdef",
            "FLASK_DATABASE_URL": f"sqlite:///{self.database}",
            "FLASK_QUEUE_URL": f"sqlite:///{os.path.join(self.folder, 'queue.db')}",
            "FLASK_REPORTS_DIR": os.path.join(self.folder, "reports"),
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

    def _start(self, name, command):
        log = open(os.path.join(self.folder, f"{name}.log"), "ab")
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def start_web(self):
        process = self._start("web", [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(self.web_port)])
        wait_for(self._web_answers, what="the web server")
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
