"""Shared fixtures: an app per test on its own real database, a client, a CLI
runner, an `auth` helper, and small factories for agents and events.

Every app-based test runs on SQLite and, where a PostgreSQL server answers (or
REQUIRE_POSTGRES=1 demands it), on PostgreSQL too.
"""
import os
import re

import uuid

import psycopg2
import pytest
import redis

from access import api_keys, passwords
from app import create_app
from database import db, migrations
from database.migrations import SchemaVersion
from models import MODELS, Account, Grant
from devtools.processes import postgres_database

POSTGRES_URL = os.environ.get("SLOTLENS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SLOTLENS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"


def postgres_available():
    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def database_params():
    params = ["sqlite"]
    if os.environ.get("REQUIRE_POSTGRES") == "1" or postgres_available():
        params.append(pytest.param("postgres", marks=pytest.mark.postgres))
    else:
        params.append(pytest.param("postgres", marks=pytest.mark.skip(reason=f"no PostgreSQL at {POSTGRES_URL}")))
    return params


def redis_available():
    try:
        return redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError:
        return False


def backend_params():
    """Backends for tests with real processes: SQLite alone, and PostgreSQL with Redis."""
    required = os.environ.get("REQUIRE_POSTGRES") == "1" or os.environ.get("REQUIRE_REDIS") == "1"
    if required or (postgres_available() and redis_available()):
        scaled = pytest.param("postgres+redis", marks=pytest.mark.postgres)
    else:
        scaled = pytest.param("postgres+redis", marks=pytest.mark.skip(reason="no PostgreSQL or no Redis here"))
    return ["sqlite", scaled]


@pytest.fixture(params=backend_params())
def backend(request):
    """Stack settings for one backend; a PostgreSQL database and a queue name of the test's own."""
    if request.param == "sqlite":
        yield {}
        return
    with postgres_database(POSTGRES_URL) as database_url:
        yield dict(database_url=database_url, queue_url=REDIS_URL, queue_name=f"slotlens-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def postgres_url():
    """A database of this test session's own, so that two runs on one server never
    drop each other's tables; the configured database itself if we may not create one."""
    name = f"slotlens_test_{os.getpid()}"
    try:
        admin = psycopg2.connect(POSTGRES_URL, connect_timeout=3)
        admin.autocommit = True
        admin.cursor().execute(f"CREATE DATABASE {name}")
    except psycopg2.Error:
        yield POSTGRES_URL
        return
    yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(params=database_params())
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/slotlens.db"
    return request.getfixturevalue("postgres_url")


def app_config(tmp_path, database_url, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url,
        "QUEUE_URL": f"sqlite:///{tmp_path}/queue.db",
        "QUEUE_IMMEDIATE": True,
        "REPORTS_DIR": str(tmp_path / "reports"),
        "BASE_URL": "http://slotlens.test",
        "MAIL_DEFAULT_SENDER": "reports@slotlens.test",
    }
    config.update(overrides)
    return config


@pytest.fixture
def app(tmp_path, database_url):
    app = create_app(app_config(tmp_path, database_url), instance_path=str(tmp_path / "instance"))
    with app.app_context():
        fresh_schema(database_url)
    yield app
    if not db.is_closed():
        db.close()


def fresh_schema(database_url):
    """Drop every table (a PostgreSQL database outlives a test) and create the latest schema."""
    with db.connection_context():
        db.drop_tables([*MODELS, SchemaVersion], safe=True, cascade=database_url.startswith("postgres"))
        migrations.upgrade()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(client, path="/login"):
    """The CSRF token a page would give the browser."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, email="admin@example.com", password=PASSWORD):
        token = csrf_token(self.client)
        return self.client.post("/login", data={"email": email, "password": password, "csrf_token": token})

    def post(self, path, data, form_page="/analytics"):
        """POST a form the way the browser does, with the page's CSRF token."""
        return self.client.post(path, data={**data, "csrf_token": csrf_token(self.client, form_page)})


@pytest.fixture
def auth(client):
    return Auth(client)


def make_account(email, is_admin=False, agents=()):
    account = Account(email=email, is_admin=is_admin)
    passwords.assign(account, PASSWORD)
    account.save()
    for agent in agents:
        Grant.create(account=account, agent=agent)
    return account


def make_agent(name):
    """An agent and its API key."""
    return api_keys.create_agent(name)


@pytest.fixture
def people(app):
    """Two agents; an admin, an analyst granted only the first, and one with no grants."""
    with app.app_context():
        (support, support_key), (sales, sales_key) = make_agent("Support Bot"), make_agent("Sales Bot")
        make_account("admin@example.com", is_admin=True)
        make_account("analyst@example.com", agents=[support])
        make_account("nobody@example.com")
        return dict(support=support, sales=sales, support_key=support_key, sales_key=sales_key)


def event(dialog_id, sender, timestamp, slot=None, channel="web", text=None):
    item = {"dialog_id": dialog_id, "channel": channel, "sender": sender, "timestamp": timestamp}
    if slot is not None:
        item["slot"] = slot
    if text is not None:
        item["text"] = text
    return item
