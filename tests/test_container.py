"""The one-container entrypoint, run outside Docker exactly as the image runs it:
a dead worker stops the container (so that Docker's restart policy brings both
processes back), and `docker stop` (SIGTERM) stops both gracefully."""
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from devtools.processes import Stack, free_port, wait_for

pytestmark = pytest.mark.e2e


def healthz(base_url):
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)
    except OSError:
        return None, None


@pytest.fixture
def container(tmp_path):
    """`docker-entrypoint.sh all` with the stack's settings; its children by role."""
    stack = Stack(tmp_path, free_port())
    entrypoint = stack.start_entrypoint("all")
    try:
        wait_for(lambda: healthz(stack.base_url)[0] == 200, timeout=60, what="a healthy container")
        children = {}
        for pid in subprocess.run(["pgrep", "-P", str(entrypoint.pid)], capture_output=True, text=True).stdout.split():
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                role = "worker" if b"huey_consumer" in f.read() else "web"
            children[role] = int(pid)
        assert set(children) == {"worker", "web"}
        yield entrypoint, children, tmp_path / "container.log"
    finally:
        if entrypoint.poll() is None:
            entrypoint.kill()
        subprocess.run(["pkill", "-KILL", "-f", f"127.0.0.1:{stack.web_port}|0.0.0.0:{stack.web_port}"], check=False)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] == "Z"  # a zombie has stopped


def test_a_dead_worker_stops_the_container_for_a_restart(container):
    entrypoint, children, log = container
    os.kill(children["worker"], signal.SIGKILL)
    assert entrypoint.wait(timeout=45) == 1
    assert gone(children["web"]), "the web server is stopped with it"
    assert "the worker process stopped" in log.read_text()


def test_docker_stop_stops_both_gracefully(container):
    entrypoint, children, log = container
    entrypoint.send_signal(signal.SIGTERM)
    assert entrypoint.wait(timeout=45) == 0
    assert gone(children["web"]) and gone(children["worker"])
    text = log.read_text()
    assert "Shutting down gracefully" in text, text[-2000:]
