"""The deployment the compose files describe: Caddy in front, the only published
service, and gunicorn behind it trusting forwarded headers from the proxy only.
Docker cannot run here, so the same Caddy binary (Debian's) runs in front of
gunicorn started exactly as the container starts it."""
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
import yaml

from devtools.processes import ROOT, Stack, free_port, wait_for

pytestmark = pytest.mark.e2e
SLOW_CLIENTS = 16


@pytest.mark.parametrize("compose_file", ["docker-compose.yml", "docker-compose.scale.yml"])
def test_only_the_proxy_is_published(compose_file):
    with open(os.path.join(ROOT, compose_file)) as f:
        services = yaml.safe_load(f)["services"]
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    assert services["proxy"]["volumes"][0].startswith("./deploy/Caddyfile:")
    for name, service in services.items():
        environment = service.get("environment") or {}
        if "FLASK_TRUSTED_PROXIES" in environment:
            assert environment["FORWARDED_ALLOW_IPS"] != "*", name


class SlowLoris:
    """Connections that send one header line every 2 s and never finish the request."""

    def __init__(self, port):
        self.port, self.sockets, self.stop = port, [], threading.Event()

    def __enter__(self):
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", self.port))
            sock.sendall(b"GET /login HTTP/1.1\r\nHost: slotlens\r\n")
            self.sockets.append(sock)
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()
        time.sleep(1)
        return self

    def _drip(self):
        while not self.stop.wait(2):
            for sock in self.sockets:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def answers_in_time(port, timeout=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def caddy():
    path = shutil.which("caddy")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("caddy is not installed (.ci/run installs Debian's package)")
        pytest.skip("caddy is not installed (apt-get install caddy)")
    return path


def test_slow_clients_cannot_take_the_web_server_down_behind_the_proxy(tmp_path, caddy):
    stack = Stack(tmp_path, free_port())
    stack.start_entrypoint("web")
    proxy_port = free_port()
    env = {**os.environ, "SLOTLENS_SITE": f":{proxy_port}", "SLOTLENS_UPSTREAMS": f"127.0.0.1:{stack.web_port}",
           "XDG_DATA_HOME": str(tmp_path / "caddy-data"), "XDG_CONFIG_HOME": str(tmp_path / "caddy-config")}
    with open(tmp_path / "caddy.log", "wb") as log:
        proxy = subprocess.Popen(
            [caddy, "run", "--config", os.path.join(ROOT, "deploy", "Caddyfile"), "--adapter", "caddyfile"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: answers_in_time(proxy_port), timeout=30, what="Caddy")
        with SlowLoris(stack.web_port):
            assert not answers_in_time(stack.web_port), "the attack is real: gunicorn alone stops answering"
        wait_for(lambda: answers_in_time(stack.web_port), timeout=30, what="gunicorn to recover")
        with SlowLoris(proxy_port):
            for _ in range(3):
                assert answers_in_time(proxy_port), "behind the proxy the site keeps answering"
                time.sleep(1)
    finally:
        proxy.terminate()
        proxy.wait(10)
        stack.stop()
