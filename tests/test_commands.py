"""Every `flask --app app ...` command: what it prints, and one clear line on error."""
import json

import pytest

from access import api_keys, passwords
from database import migrations
from models import Account, Agent, Dialog, Event, Grant


def test_init_db_is_idempotent(runner):
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0 and result.output == f"Database ready (schema version {migrations.LATEST}).\n"


def test_create_user(app, runner):
    result = runner.invoke(args=["create-user", "Ann@Example.com", "--password", "long enough pw", "--admin"])
    assert result.exit_code == 0 and result.output == "Created admin account ann@example.com.\n"
    with app.app_context():
        account = Account.get(Account.email == "ann@example.com")
        assert account.is_admin and passwords.matches(account, "long enough pw")


@pytest.mark.parametrize(
    "args, message",
    [
        (["create-user", "ann@example.com", "--password", "short"], "must have 10 to 200 characters"),
        (["create-user", "not-an-email", "--password", "long enough pw"], "is not an email address"),
        (["create-user", "a" * 250 + "@example.com", "--password", "long enough pw"], "is not an email address"),
        (["create-user", "ann@example.com\nx", "--password", "long enough pw"], "is not an email address"),
        (["create-user", "ann@example.com", "--password", "p" * 201], "must have 10 to 200 characters"),
        (["create-user", "ann@example.com"], "Missing option '--password'"),
    ],
)
def test_create_user_errors(runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_create_user_twice_is_refused(runner):
    runner.invoke(args=["create-user", "ann@example.com", "--password", "long enough pw"])
    result = runner.invoke(args=["create-user", "ann@example.com", "--password", "long enough pw"])
    assert result.exit_code == 1 and "already exists" in result.output


def test_create_agent_prints_a_working_key(app, runner):
    result = runner.invoke(args=["create-agent", "Support Bot"])
    assert result.exit_code == 0
    key = result.output.strip().rsplit(" ", 1)[1]
    with app.app_context():
        assert api_keys.agent_for(key).name == "Support Bot"
    again = runner.invoke(args=["create-agent", "Support Bot"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_grant(app, runner, people):
    result = runner.invoke(args=["grant", "nobody@example.com", "Sales Bot"])
    assert result.exit_code == 0 and result.output == "nobody@example.com can now see 'Sales Bot'.\n"
    assert runner.invoke(args=["grant", "nobody@example.com", "Sales Bot"]).exit_code == 0  # idempotent
    with app.app_context():
        assert Grant.select().join(Account).where(Account.email == "nobody@example.com").count() == 1
    unknown = runner.invoke(args=["grant", "ghost@example.com", "Sales Bot"])
    assert unknown.exit_code == 1 and "No account 'ghost@example.com'" in unknown.output
    no_agent = runner.invoke(args=["grant", "nobody@example.com", "Ghost Bot"])
    assert no_agent.exit_code == 1 and "No agent named 'Ghost Bot'" in no_agent.output


def test_demo_data_loads_once(app, runner):
    first = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0 and "Demo data loaded. Log in as demo@slotlens.local" in first.output
    with app.app_context():
        dialogs = Dialog.select().count()
        assert dialogs > 10_000 and Agent.select().count() == 3
    second = runner.invoke(args=["demo-data"])
    assert "already loaded" in second.output
    with app.app_context():
        assert Dialog.select().count() == dialogs


def write_jsonl(path, lines):
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return str(path)


def test_import_events_reports_what_it_skipped(app, runner, people, tmp_path):
    ts = "2026-03-01T10:00:00Z"
    lines = [
        {"dialog_id": "d1", "channel": "web", "sender": "user", "slot": "a", "timestamp": ts},
        "{broken json",
        {"dialog_id": "d2", "channel": "web", "sender": "alien", "timestamp": ts},
        {"dialog_id": "d1", "channel": "web", "sender": "bot", "slot": "b", "timestamp": "2026-03-01T10:01:00Z"},
        {"dialog_id": "d1", "channel": "telegram", "sender": "bot", "timestamp": ts},
        "",
        {"dialog_id": "d3", "channel": "app", "sender": "user", "timestamp": "2026-03-01 10:00"},
    ]
    result = runner.invoke(args=["import-events", write_jsonl(tmp_path / "events.jsonl", lines), "--agent", "Support Bot"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 new events into 'Support Bot'; 0 were already stored; 4 lines skipped." in result.output
    assert "line 2: not valid JSON" in result.output
    assert "line 3: sender: must be one of: user, bot, system" in result.output
    assert "line 5: channel: dialog 'd1' is on channel 'web' in this batch" in result.output
    assert "line 7: timestamp: must include a UTC offset" in result.output
    with app.app_context():
        assert Event.select().count() == 2 and Dialog.get().stop_slot.key == "b"
    again = runner.invoke(args=["import-events", str(tmp_path / "events.jsonl"), "--agent", "Support Bot"])
    assert "Imported 0 new events" in again.output and "2 were already stored" in again.output


def test_import_events_skips_lines_the_database_rejects(app, runner, people, tmp_path):
    ts = "2026-03-01T10:00:00Z"
    runner.invoke(args=["import-events", write_jsonl(tmp_path / "a.jsonl", [{"dialog_id": "d1", "channel": "web", "sender": "user", "timestamp": ts}]), "--agent", "Support Bot"])
    lines = [
        {"dialog_id": "d2", "channel": "web", "sender": "user", "timestamp": ts},
        {"dialog_id": "d1", "channel": "app", "sender": "bot", "timestamp": ts},
    ]
    result = runner.invoke(args=["import-events", write_jsonl(tmp_path / "b.jsonl", lines), "--agent", "Support Bot"])
    assert "Imported 1 new events" in result.output
    assert "line 2: channel: dialog 'd1' is stored on channel 'web'" in result.output


def test_a_line_that_is_not_utf8_is_skipped_and_named(app, runner, people, tmp_path):
    """One bad byte inside a JSON string spoils its line, not the import (msgspec raised on it)."""
    good = b'{"dialog_id": "d1", "channel": "web", "sender": "user", "text": "ok", "timestamp": "2026-03-01T10:00:00Z"}\n'
    bad = b'{"dialog_id": "d2", "channel": "web", "sender": "user", "text": "caf\xff", "timestamp": "2026-03-01T10:00:00Z"}\n'
    (tmp_path / "events.jsonl").write_bytes(good + bad + good.replace(b"d1", b"d3"))
    result = runner.invoke(args=["import-events", str(tmp_path / "events.jsonl"), "--agent", "Support Bot"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 new events into 'Support Bot'; 0 were already stored; 1 lines skipped." in result.output
    assert f"line 2: not valid UTF-8 (byte {bad.index(0xFF) + 1})" in result.output
    with app.app_context():
        assert sorted(d.external_id for d in Dialog.select()) == ["d1", "d3"]


def test_import_events_for_an_unknown_agent(runner, tmp_path):
    result = runner.invoke(args=["import-events", write_jsonl(tmp_path / "e.jsonl", []), "--agent", "Nope"])
    assert result.exit_code == 1 and "No agent named 'Nope'" in result.output


def test_queue_status(runner, people):
    result = runner.invoke(args=["queue-status"])
    assert result.exit_code == 0
    assert "Queued items: 0" in result.output and "Click to email (24 h): no emails sent" in result.output
