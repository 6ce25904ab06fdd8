"""Upgrading keeps every row: a database made by the first schema version is brought
up to date by `upgrade-db`, and a backup is a working copy."""
import sqlite3
from datetime import datetime

import pytest

from access import api_keys
from database import db, migrations
from models import Account, ExportItem, ExportRequest, LoginFailure

SCHEMA_V1 = "tests/data/schema_v1.sqlite.sql"  # what the first release created (sqlite3 .schema)


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path}/slotlens.db"


def v1_database(path):
    with sqlite3.connect(path) as v1:
        with open(SCHEMA_V1) as f:
            v1.executescript(f.read())
        v1.executescript(
            """
            INSERT INTO account VALUES (1, 'ann@example.com', 'x', 1, '2026-01-01 00:00:00');
            INSERT INTO agent VALUES (1, 'Support Bot', 'support-bot', 'hash', '2026-01-01 00:00:00');
            INSERT INTO dialog VALUES (1, 1, 'd1', 'web', '2026-01-02 10:00:00', 1, NULL);
            INSERT INTO event VALUES (1, 1, 'user', NULL, 'hi', '2026-01-02 10:00:00', 42);
            INSERT INTO export_request VALUES (1, 1, '2026-01-01', '2026-01-31', '', 'k', '2026-02-01 00:00:00');
            INSERT INTO export_request VALUES (2, 1, '2026-01-01', '2026-01-31', 'telegram' || char(10) || 'web', 'k2',
                                               '2026-02-01 00:00:00');
            INSERT INTO export_item VALUES (1, 1, 1, 'sent', 1, NULL, 1, '2026-02-01 00:00:01',
                                            '2026-02-01 00:00:02', '2026-02-02 00:00:02', NULL);
            """
        )


def test_upgrade_from_the_first_schema_keeps_every_row(app, runner, tmp_path):
    path = app.config["DATABASE_URL"][len("sqlite:///") :]
    db.close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA foreign_keys = OFF")
        for (table,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            raw.execute(f'DROP TABLE "{table}"')
    v1_database(path)
    with app.app_context():
        assert migrations.current_version() == 1
    result = runner.invoke(args=["upgrade-db"])
    assert result.exit_code == 0 and result.output == f"Database upgraded from schema version 1 to {migrations.LATEST}.\n"
    with app.app_context():
        assert migrations.current_version() == migrations.LATEST
        item = ExportItem.get_by_id(1)
        assert (item.state, item.dialogs, item.claim_token, item.not_before) == ("sent", 1, None, None)
        assert Account.get().email == "ann@example.com"
        requests = list(ExportRequest.select().order_by(ExportRequest.id))
        assert [r.channel_list for r in requests] == [[], ["telegram", "web"]]
        assert [r.kind for r in requests] == ["stop-slots", "stop-slots"], "every older request was Stop slots"
        LoginFailure.create(email="a", address="b")  # the new table works
    again = runner.invoke(args=["upgrade-db"])
    assert again.output == f"Database ready (schema version {migrations.LATEST}).\n"


def test_backup_is_a_working_copy(app, runner, tmp_path, people):
    target = tmp_path / "backup.db"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0 and result.output.startswith(f"Backed up the database to {target}")
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM account").fetchone() == (3,)
    refused = runner.invoke(args=["backup", str(target)])
    assert refused.exit_code == 1 and "exists already" in refused.output


def test_upgrading_computes_the_paths_of_stored_dialogs(app, runner):
    """A database from before the report family gets its slot and step rows from the events."""
    from ingest import rules, writer
    from models import DailyReach, DailyStep, DialogSlot, DialogStep

    with app.app_context():
        agent = api_keys.create_agent("Bot")[0]
        events = [rules.EventIn("d", "web", "user", None, None, datetime(2026, 3, 1, 10)),
                  rules.EventIn("d", "web", "bot", "a", None, datetime(2026, 3, 1, 11)),
                  rules.EventIn("d", "web", "bot", "b", None, datetime(2026, 3, 1, 12))]
        writer.ingest_events(agent, events)
        kept = sorted(((s.from_slot, s.to_slot, s.transitions) for s in DialogStep.select()), key=str)
        totals = daily_rows()
        db.drop_tables([DialogSlot, DialogStep, DailyReach, DailyStep])
        db.execute_sql("DROP TABLE agent_traffic")  # made by version 12
        migrations.SchemaVersion.update(version=6).execute()
    assert runner.invoke(args=["upgrade-db"]).exit_code == 0
    with app.app_context():
        assert sorted(((s.from_slot, s.to_slot, s.transitions) for s in DialogStep.select()), key=str) == kept
        assert len(kept) == 3 and DialogSlot.select().count() == 2
        assert daily_rows() == totals and len(totals[0]) == 2 and len(totals[1]) == 3
        plan = " ".join(str(row) for row in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT slot_id FROM dialog_slot WHERE agent_id = 1 AND is_counted = 1 AND started_at >= '2026'"
        ))
        assert "(agent_id=? AND is_counted=? AND started_at>?)" in plan, "dialog_slot is indexed by start first"


def daily_rows():
    """Every row of the two daily totals tables, without ids."""
    from models import DailyReach, DailyStep

    return [sorted(tuple(row)[1:] for row in model.select().tuples()) for model in (DailyReach, DailyStep)]


def test_an_import_jobs_skip_reasons_are_grouped_by_version_26(app, runner, people):
    """Jobs kept [where, reason] per skipped item; they show one line per reason with
    how many and where first, as new jobs do."""
    import json

    from models import ImportJob

    pairs = [["line 2", "'client' is not a sender"], ["line 3", "'client' is not a sender"], ["line 5", "bad time"]]
    with app.app_context():
        ImportJob.create(account=Account.get(), agent=people["support"], kind="csv", file_name="a.csv", path="x",
                         state="done", reasons=json.dumps(pairs))
        migrations.SchemaVersion.update(version=25).execute()
    assert runner.invoke(args=["upgrade-db"]).exit_code == 0
    with app.app_context():
        assert ImportJob.get().reason_list == [["'client' is not a sender", 2, "line 2"], ["bad time", 1, "line 5"]]
