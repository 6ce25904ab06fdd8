"""`make run`: the whole product on one machine with one command.

Prepares the instance folder (secret key, database, demo data when empty),
then runs the web server, a Huey worker and, when no FLASK_MAIL_SERVER is set,
a local mail catcher whose emails the Outbox page shows. Ctrl-C stops all.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from app import write_secret_key

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANCE = os.path.join(HERE, "instance")
HOST = os.environ.get("SLOTLENS_HOST", "127.0.0.1")
PORT = os.environ.get("SLOTLENS_PORT", "5000")
MAIL_PORT = os.environ.get("SLOTLENS_MAIL_PORT", "1025")
WORKERS = "2"
MAX_POLL_DELAY = "0.5"  # seconds an idle worker waits between queue checks, at most


def flask(*args):
    return [sys.executable, "-m", "flask", "--app", "app", *args]


def taken(port):
    """Whether something already listens on HOST:port (another program, or another `make run`)."""
    with socket.socket() as probe:
        return probe.connect_ex((HOST, int(port))) == 0


def answers(url, process, timeout=30):
    """Wait until `url` answers; False if `process` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def main():
    env = dict(os.environ)
    env.setdefault("FLASK_BASE_URL", f"http://{HOST}:{PORT}")
    mail_catcher = not env.get("FLASK_MAIL_SERVER")
    for port, setting in ((PORT, "SLOTLENS_PORT"), (MAIL_PORT, "SLOTLENS_MAIL_PORT")):
        if (setting == "SLOTLENS_PORT" or mail_catcher) and taken(port):
            print(f"Port {port} on {HOST} is taken (another program, or another `make run`?).\n"
                  f"Pick a free one: {setting}={int(port) + 1} make run", file=sys.stderr)
            return 1
    write_secret_key(INSTANCE)
    commands = {}
    if mail_catcher:
        outbox = os.path.join(INSTANCE, "outbox")
        env.update(FLASK_MAIL_SERVER=HOST, FLASK_MAIL_PORT=MAIL_PORT, FLASK_MAIL_CATCHER_DIR=outbox)
        commands["mail catcher"] = [sys.executable, "-m", "devtools.mailcatcher", outbox, "--host", HOST, "--port", MAIL_PORT]
    subprocess.run(flask("init-db"), env=env, cwd=HERE, check=True)
    demo = subprocess.run(flask("demo-data"), env=env, cwd=HERE, check=True, capture_output=True, text=True)
    commands["worker"] = [
        os.path.join(os.path.dirname(sys.executable), "huey_consumer"),
        "worker.huey",
        "--workers", WORKERS,
        "--worker-type", "thread",
        "--max-delay", MAX_POLL_DELAY,
    ]
    commands["web"] = flask("run", "--host", HOST, "--port", PORT)

    processes = {name: subprocess.Popen(cmd, env=env, cwd=HERE) for name, cmd in commands.items()}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if not answers(f"http://{HOST}:{PORT}/login", processes["web"]):
        stop(processes)
        print(f"The web server did not start on {HOST}:{PORT}; its output above says why.", file=sys.stderr)
        return 1
    print(f"\n  Slotlens is running at {env['FLASK_BASE_URL']}\n  {demo.stdout.strip()}", flush=True)
    if "mail catcher" in processes:
        print(f"  Emails are caught locally: open {env['FLASK_BASE_URL']}/outbox", flush=True)
    print("  Press Ctrl-C to stop.\n", flush=True)
    watched = dict(processes)
    try:
        while True:
            for name, process in list(watched.items()):
                if process.poll() is None:
                    continue
                if name != "mail catcher":
                    print(f"The {name} stopped (exit code {process.returncode}); stopping the rest.", flush=True)
                    return 1
                del watched[name]
                print(
                    "The mail catcher stopped: reports wait and are retried. Start it again with\n"
                    f"  {' '.join(commands[name])}",
                    flush=True,
                )
            time.sleep(0.5)
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        stop(processes)


def stop(processes):
    """Stop every process: the worker with SIGINT (Huey's graceful stop lets the task in
    progress finish), the others with SIGTERM; SIGKILL whatever is left after 20 s."""
    for name, process in processes.items():
        if process.poll() is None:
            process.send_signal(signal.SIGINT if name == "worker" else signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
