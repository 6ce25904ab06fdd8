"""Start-up refuses settings that would be unsafe or fail later."""
import time

import pytest

import tasks
from app import ConfigError, create_app


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
    assert response.status_code == 503 and response.json["database"] == "ok" and "ConnectionError" in response.json["queue"]


def test_a_database_that_is_down_gives_503_not_500(tmp_path):
    down = "postgresql://postgres@127.0.0.1:1/slotlens"
    app = create_app(settings(tmp_path, TESTING=True, DATABASE_URL=down, WTF_CSRF_ENABLED=False), instance_path=str(tmp_path))
    client = app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.is_json
    assert "OperationalError" in response.json["database"] and response.json["queue"] == "ok"
    page = client.post("/login", data={"email": "a@example.com", "password": "x" * 12})
    assert page.status_code == 503 and "cannot reach its database" in page.get_data(as_text=True)
    api = client.post("/api/v1/events", json=[], headers={"Authorization": "Bearer sl_x"})
    assert api.status_code == 503 and "cannot reach its database" in api.json[0]["message"]


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
