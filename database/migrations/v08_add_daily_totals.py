"""Version 8: per-day totals of the slot and step rows, so the Slot funnel and Slot
paths sum days instead of dialogs; `dialog_slot` indexed by start first, for the
partial days at a period's edges. The totals are computed here from the stored rows:
per agent, UTC day, channel and slot (or step; (start) and (end) are slot id 0),
the counted dialogs and their sum."""
from peewee import CharField, DateField, ForeignKeyField, IntegerField, Model
from playhouse.migrate import migrate

from database import db
from database.migrations.stub import stub

REACH_TOTALS = """
INSERT INTO daily_reach (agent_id, day, channel, slot_id, reached, times_shown)
SELECT agent_id, DATE(started_at), channel, slot_id, COUNT(*), SUM(times_shown)
FROM dialog_slot WHERE is_counted
GROUP BY agent_id, DATE(started_at), channel, slot_id
"""
STEP_TOTALS = """
INSERT INTO daily_step (agent_id, day, channel, from_slot, to_slot, dialogs, transitions)
SELECT agent_id, DATE(started_at), channel, COALESCE(from_slot_id, 0), COALESCE(to_slot_id, 0), COUNT(*), SUM(transitions)
FROM dialog_step WHERE is_counted
GROUP BY agent_id, DATE(started_at), channel, COALESCE(from_slot_id, 0), COALESCE(to_slot_id, 0)
"""


def daily_tables():
    """The `daily_reach` and `daily_step` tables as version 8 created them."""
    agents, slots = stub("agent"), stub("slot")

    class DailyReachV8(Model):
        agent = ForeignKeyField(agents, on_delete="CASCADE", index=False)
        day = DateField()
        channel = CharField()
        slot = ForeignKeyField(slots, on_delete="CASCADE", index=False)
        reached = IntegerField()
        times_shown = IntegerField()

        class Meta:
            database = db
            table_name = "daily_reach"
            indexes = ((("agent", "day", "channel", "slot"), True),)

    class DailyStepV8(Model):
        agent = ForeignKeyField(agents, on_delete="CASCADE", index=False)
        day = DateField()
        channel = CharField()
        from_slot = IntegerField()
        to_slot = IntegerField()
        dialogs = IntegerField()
        transitions = IntegerField()

        class Meta:
            database = db
            table_name = "daily_step"
            indexes = ((("agent", "day", "channel", "from_slot", "to_slot"), True),)

    return DailyReachV8, DailyStepV8


def apply(migrator):
    by_slot_first = ["agent_id", "is_counted", "slot_id", "started_at", "channel", "times_shown"]
    for index in db.get_indexes("dialog_slot"):
        if index.columns == by_slot_first:  # its name depends on how version 7 came to be
            migrate(migrator.drop_index("dialog_slot", index.name))
    migrate(migrator.add_index("dialog_slot", ("agent_id", "is_counted", "started_at", "slot_id", "channel", "times_shown")))
    db.create_tables(daily_tables())
    db.execute_sql(REACH_TOTALS)
    db.execute_sql(STEP_TOTALS)
