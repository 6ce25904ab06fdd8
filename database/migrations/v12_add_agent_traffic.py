"""Version 12: events received per agent and hour, for the agent page. Stored events
are counted at the start of their own timestamp's day (when they arrived was not
kept), and that day's latest timestamp stands for when they were received."""
from peewee import BigIntegerField, DateTimeField, ForeignKeyField, Model
from playhouse.migrate import SqliteMigrator

from database import db
from database.migrations.stub import stub


def traffic_table():
    """The `agent_traffic` table as version 12 created it."""

    class AgentTraffic(Model):
        agent = ForeignKeyField(stub("agent"), on_delete="CASCADE", index=False)
        hour = DateTimeField()
        events = BigIntegerField()
        last_received_at = DateTimeField()

        class Meta:
            database = db
            table_name = "agent_traffic"
            legacy_table_names = False
            indexes = ((("agent", "hour"), True),)

    return AgentTraffic


def apply(migrator):
    db.create_tables([traffic_table()])
    day = "DATETIME(DATE(e.timestamp))" if isinstance(migrator, SqliteMigrator) else "DATE_TRUNC('day', e.timestamp)"
    db.execute_sql(
        "INSERT INTO agent_traffic (agent_id, hour, events, last_received_at)"
        f" SELECT d.agent_id, {day}, COUNT(*), MAX(e.timestamp) FROM event e"
        f" JOIN dialog d ON d.id = e.dialog_id GROUP BY d.agent_id, {day}"
    )
