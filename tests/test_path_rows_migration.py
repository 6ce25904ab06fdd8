"""Upgrades whose SQL differs between SQLite and PostgreSQL, on both: version 11
frees the path rows of their agent and slot foreign keys (SQLite rebuilds the two
tables, PostgreSQL drops the constraints), keeping every row, its id, and the
indexes as a new database has them; version 12 counts the stored events; version 18
gives import jobs a claim."""
from datetime import datetime, timedelta

from access import api_keys
from database import db, migrations
from database.migrations import v07_add_slot_paths, v09_add_imports, v11_free_path_rows_of_slot_checks
from ingest import rules, traffic, writer
from models import Agent, AgentTraffic, DialogSlot, DialogStep


def path_rows():
    return [list(model.select().order_by(model.id).tuples()) for model in (DialogSlot, DialogStep)]


def references(table):
    return sorted(key.column for key in db.get_foreign_keys(table))


def index_names(table):
    return sorted(index.name for index in db.get_indexes(table))


def test_upgrading_to_version_11_keeps_every_path_row_without_slot_checks(app, runner):
    with app.app_context():
        agent = api_keys.create_agent("Bot")[0]
        writer.ingest_events(agent, [
            rules.EventIn(dialog, "web", sender, slot, None, datetime(2026, 3, 1, 10, minute))
            for dialog in ("d1", "d2") for minute, (sender, slot) in enumerate([("user", None), ("bot", "a"), ("bot", "b")])
        ])
        kept, indexes = path_rows(), {table: index_names(table) for table in v11_free_path_rows_of_slot_checks.PATH_REFERENCES}
        db.execute_sql("CREATE TABLE kept_slot AS SELECT * FROM dialog_slot")
        db.execute_sql("CREATE TABLE kept_step AS SELECT * FROM dialog_step")
        db.drop_tables([DialogSlot, DialogStep])
        db.create_tables(v07_add_slot_paths.path_tables(version=8))
        db.execute_sql("INSERT INTO dialog_slot SELECT * FROM kept_slot")
        db.execute_sql("INSERT INTO dialog_step SELECT * FROM kept_step")
        db.execute_sql("DROP TABLE kept_slot")
        db.execute_sql("DROP TABLE kept_step")
        if app.config["DATABASE_URL"].startswith("postgres"):  # the rows came back with their ids
            for table in v11_free_path_rows_of_slot_checks.PATH_REFERENCES:
                db.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        assert references("dialog_step") == ["agent_id", "dialog_id", "from_slot_id", "to_slot_id"], "a version 10 table"
        db.execute_sql("DROP TABLE agent_traffic")  # made by version 12
        migrations.SchemaVersion.update(version=10).execute()

    assert runner.invoke(args=["upgrade-db"]).exit_code == 0

    with app.app_context():
        assert migrations.current_version() == migrations.LATEST
        assert path_rows() == kept and len(kept[0]) == 4 and len(kept[1]) == 6
        assert references("dialog_slot") == references("dialog_step") == ["dialog_id"]
        assert {table: index_names(table) for table in v11_free_path_rows_of_slot_checks.PATH_REFERENCES} == indexes
        writer.ingest_events(Agent.get(), [rules.EventIn("d1", "web", "bot", "c", None, datetime(2026, 3, 1, 11))])
        assert DialogStep.select().where(DialogStep.to_slot.is_null()).count() == 2, "the tables still take new rows"


def test_upgrading_to_version_12_counts_the_stored_events_of_each_agent(app, runner):
    with app.app_context():
        agent = api_keys.create_agent("Bot")[0]
        api_keys.create_agent("Quiet Bot")
        writer.ingest_events(agent, [
            rules.EventIn("d1", "web", "user", None, None, datetime(2026, 3, 1, 10)),
            rules.EventIn("d1", "web", "bot", "a", None, datetime(2026, 3, 1, 11)),
            rules.EventIn("d2", "web", "user", None, None, datetime(2026, 3, 2, 9, 30)),
            rules.EventIn("d2", "web", "bot", "a", None, datetime(2026, 3, 2, 8)),  # the day's latest stands for received
        ])
        db.drop_tables([AgentTraffic])
        migrations.SchemaVersion.update(version=11).execute()

    assert runner.invoke(args=["upgrade-db"]).exit_code == 0

    with app.app_context():
        assert traffic.received(agent, since=datetime(2026, 3, 2)) == (4, 2, datetime(2026, 3, 2, 9, 30))
        assert traffic.received(Agent.get(Agent.name == "Quiet Bot"), since=datetime(2026, 3, 2)) == (0, 0, None)


def test_upgrading_to_version_18_gives_import_jobs_a_claim(app, runner, people):
    """A job left running by version 17 is taken over two minutes after its last
    progress, as that version's sweep did; finished jobs are left as they were."""
    from importers import jobs
    from models import ImportJob, ImportTraffic, utcnow

    with app.app_context():
        db.drop_tables([ImportTraffic, ImportJob])  # version 26's per-job traffic refers to the jobs
        version_17_job = v09_add_imports.import_tables()[1]
        db.create_tables([version_17_job])
        now = utcnow()
        for state, minutes_ago in (("running", 10), ("running", 1), ("done", 10)):
            version_17_job.create(account=1, agent=1, kind="events", file_name="a.jsonl", path="/nowhere", state=state,
                                  created_at=now, updated_at=now - timedelta(minutes=minutes_ago))
        migrations.SchemaVersion.update(version=17).execute()

    assert runner.invoke(args=["upgrade-db"]).exit_code == 0

    with app.app_context():
        assert migrations.current_version() == migrations.LATEST
        rows = list(ImportJob.select().order_by(ImportJob.id))
        assert [(job.state, job.claim_token, job.attempts) for job in rows] == [("running", None, 1), ("running", None, 1), ("done", None, 0)]
        assert rows[2].lease_until is None
        assert jobs.unattended(pending_ids=set()) == [(1, "running")], "the job whose worker went quiet 10 minutes ago"
