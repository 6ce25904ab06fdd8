"""Start-up refuses settings that would be unsafe or fail later."""
import pytest

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
