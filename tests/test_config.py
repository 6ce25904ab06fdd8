"""Start-up refuses settings that would be unsafe or fail later."""
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
import traceback

import pytest

import database
from database import migrations
import tasks
from app import ConfigError, create_app
from devtools.processes import BIN, ROOT, Stack, free_port


def settings(tmp_path, **overrides):
    base = {
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "QUEUE_URL": f"sqlite:///{tmp_path}/queue.sqlite",
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"SECRET_KEY": None}, "FLASK_SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "at least 32"),
        ({"TIMEZONE": "Mars/Olympus"}, "not a known time zone"),
        ({"REPORT_LINK_TTL": "a day"}, "FLASK_REPORT_LINK_TTL must be a positive number"),
        ({"EXPORT_MAX_PENDING": 0}, "FLASK_EXPORT_MAX_PENDING"),
        ({"EXPORT_BUILD_DELAY": -1}, "FLASK_EXPORT_BUILD_DELAY must be a number of seconds, 0 or more, not -1"),
        ({"EXPORT_BUILD_DELAY": "soon"}, "FLASK_EXPORT_BUILD_DELAY must be a number of seconds"),
    ],
)
def test_bad_settings_stop_start_up_with_a_clear_message(tmp_path, overrides, words):
    with pytest.raises(ConfigError, match=words):
        create_app(settings(tmp_path, **overrides), instance_path=str(tmp_path))


def test_settings_come_from_flask_prefixed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_SECRET_KEY", "y" * 40)
    monkeypatch.setenv("FLASK_REPORT_LINK_TTL", "60")
    monkeypatch.setenv("FLASK_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("FLASK_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("FLASK_QUEUE_URL", f"sqlite:///{tmp_path}/q.db")
    app = create_app(instance_path=str(tmp_path))
    assert app.config["REPORT_LINK_TTL"] == 60
    assert app.config["TIMEZONE"] == "Europe/Berlin"
    assert app.config["SECRET_KEY"] == "y" * 40


def test_unknown_queue_url_is_refused(tmp_path):
    with pytest.raises(ValueError, match="QUEUE_URL"):
        create_app(settings(tmp_path, QUEUE_URL="amqp://localhost"), instance_path=str(tmp_path))


def test_secret_key_file_in_the_instance_folder_is_used(tmp_path):
    (tmp_path / "secret_key").write_text("z" * 48)
    app = create_app(settings(tmp_path, SECRET_KEY=None), instance_path=str(tmp_path))
    assert app.config["SECRET_KEY"] == "z" * 48


def test_healthz_reports_database_queue_and_worker(tmp_path):
    client = create_app(settings(tmp_path, TESTING=True), instance_path=str(tmp_path)).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["worker"] == "worker not running (no heartbeat yet)"
    tasks.huey.put(tasks.HEARTBEAT_KEY, time.time())
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"database": "ok", "queue": "ok", "worker": "ok"}
    tasks.huey.put(tasks.HEARTBEAT_KEY, time.time() - 120)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["worker"] == "worker not running (last heartbeat 120 s ago)"

    broken = create_app(settings(tmp_path, TESTING=True, QUEUE_URL="redis://127.0.0.1:1/0"), instance_path=str(tmp_path))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503 and (response.json["database"], response.json["queue"]) == ("ok", "error")


@pytest.fixture
def slotlens_log(caplog):
    """What Slotlens logs (its logger does not propagate to the root logger, which caplog reads)."""
    logger = logging.getLogger("slotlens")
    logger.propagate = True
    with caplog.at_level("INFO", logger="slotlens"):
        yield caplog
    logger.propagate = False


def logged(caplog, words):
    """Whether a log record, with its traceback, says `words`."""
    return any(words in record.getMessage() + "".join(traceback.format_exception(*record.exc_info or (None, None, None)))
               for record in caplog.records)


def test_a_database_that_is_down_gives_503_not_500_and_names_no_host(tmp_path, slotlens_log):
    down = "postgresql://slotlens_owner@db.invalid:5432/slotlens"
    app = create_app(settings(tmp_path, TESTING=True, DATABASE_URL=down, WTF_CSRF_ENABLED=False), instance_path=str(tmp_path))
    client = app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 503 and (response.json["database"], response.json["queue"]) == ("error", "ok")
    assert "db.invalid" not in response.get_data(as_text=True) and "slotlens_owner" not in response.get_data(as_text=True)
    assert logged(slotlens_log, 'could not translate host name "db.invalid"'), "the details are in the log"
    page = client.post("/login", data={"email": "a@example.com", "password": "x" * 12})
    assert page.status_code == 503 and "cannot reach its database" in page.get_data(as_text=True)
    page = client.post("/login", data={"email": "a@example.com", "password": "x" * 12}, headers={"Accept-Language": "ru"})
    assert page.status_code == 503 and "не может связаться со своей базой данных" in page.get_data(as_text=True)
    api = client.post("/api/v1/events", json=[], headers={"Authorization": "Bearer sl_x"})
    assert api.status_code == 503 and "cannot reach its database" in api.json[0]["message"]


def test_a_database_error_that_waiting_cannot_fix_is_a_500_with_its_traceback_logged(tmp_path, slotlens_log):
    app = create_app(settings(tmp_path, TESTING=True, WTF_CSRF_ENABLED=False), instance_path=str(tmp_path))
    with app.app_context(), database.connection():
        migrations.upgrade()
        database.db.execute_sql("ALTER TABLE account DROP COLUMN csv_separator")
        database.db.execute_sql("ALTER TABLE agent DROP COLUMN created_at")
    client = app.test_client()
    page = client.post("/login", data={"email": "a@example.com", "password": "x" * 12})
    assert page.status_code == 500 and "cannot reach its database" not in page.get_data(as_text=True)
    assert "csv_separator" not in page.get_data(as_text=True)
    api = client.post("/api/v1/events", json=[], headers={"Authorization": "Bearer sl_x"})
    assert api.status_code == 500 and api.json[0]["message"].startswith("The server encountered an internal error")
    assert logged(slotlens_log, "no such column: t1.csv_separator")
    assert client.get("/healthz").json["database"] == "ok"


def test_an_old_schema_stops_start_up_except_for_flask_commands(tmp_path):
    app = create_app(settings(tmp_path), instance_path=str(tmp_path))
    with app.app_context(), database.connection():
        migrations.upgrade()
        migrations.SchemaVersion.update(version=migrations.LATEST - 1).execute()
    with pytest.raises(ConfigError, match=re.escape(
        f"The database has schema version {migrations.LATEST - 1}; this Slotlens needs version {migrations.LATEST}."
        " Back it up, then run `flask --app app upgrade-db`."
    )):
        create_app(settings(tmp_path), instance_path=str(tmp_path))
    env = {**os.environ, **{f"FLASK_{name}": value for name, value in settings(tmp_path).items()}}
    upgraded = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "upgrade-db"], env=env, capture_output=True, text=True)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout == f"Database upgraded from schema version {migrations.LATEST - 1} to {migrations.LATEST}.\n"
    create_app(settings(tmp_path), instance_path=str(tmp_path))


def test_a_newer_schema_stops_start_up(tmp_path):
    app = create_app(settings(tmp_path), instance_path=str(tmp_path))
    with app.app_context(), database.connection():
        migrations.upgrade()
        migrations.SchemaVersion.update(version=migrations.LATEST + 1).execute()
    with pytest.raises(ConfigError, match=re.escape(
        f"The database has schema version {migrations.LATEST + 1}, newer than this Slotlens (version {migrations.LATEST})."
    )):
        create_app(settings(tmp_path), instance_path=str(tmp_path))


@pytest.mark.postgres
def test_a_database_that_refuses_the_login_stops_start_up(tmp_path, postgres_url):
    refused = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(ConfigError, match='check FLASK_DATABASE_URL.*database "no_such_database" does not exist'):
        create_app(settings(tmp_path, DATABASE_URL=refused), instance_path=str(tmp_path))


def test_each_request_gets_one_log_line_with_its_id(tmp_path, caplog):
    app = create_app(settings(tmp_path, TESTING=True), instance_path=str(tmp_path))
    with caplog.at_level("INFO", logger="slotlens"):
        logger = __import__("logging").getLogger("slotlens")
        logger.propagate = True
        try:
            response = app.test_client().get("/login", headers={"X-Request-Id": "abc-123"})
        finally:
            logger.propagate = False
    assert response.headers["X-Request-Id"] == "abc-123"
    (line,) = {r.getMessage() for r in caplog.records if "event=request" in r.getMessage()}
    assert line.startswith("event=request request_id=abc-123 method=GET path=/login status=200 duration_ms=")


@pytest.mark.e2e
def test_web_and_worker_processes_refuse_an_old_schema(tmp_path):
    """gunicorn (as the container runs it), `flask run` (as `make run` does) and the
    worker stop at once on a database behind the code, saying what to run."""
    stack = Stack(tmp_path, free_port())
    stack.cli("init-db")
    with sqlite3.connect(stack.database) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (migrations.LATEST - 1,))
    commands = {
        "gunicorn": [os.path.join(BIN, "gunicorn"), "--bind", f"127.0.0.1:{stack.web_port}", "app:create_app()"],
        "flask run": [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(stack.web_port)],
        "huey_consumer": [os.path.join(BIN, "huey_consumer"), "worker.huey", "-w", "1", "-k", "thread"],
    }
    for name, command in commands.items():
        result = subprocess.run(command, cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0, name
        assert "Back it up, then run `flask --app app upgrade-db`." in result.stdout + result.stderr, name
    assert stack.cli("upgrade-db") == f"Database upgraded from schema version {migrations.LATEST - 1} to {migrations.LATEST}.\n"
    try:
        stack.start_gunicorn(workers=1, threads=1)
        worker = stack.start_worker(workers=1)
        time.sleep(3)
        assert worker.poll() is None, stack.logs()
    finally:
        stack.stop()
