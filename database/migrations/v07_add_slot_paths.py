"""Version 7: the slots each dialog reached and the steps of its path, for the report
family, computed here from the stored events.

The rows are those ingestion wrote at version 7: a dialog's slots with how often
each was shown; its path's steps (the slot-naming events in order of timestamp,
then arrival, repeats merged) with how often each was taken, from (start) (no
from-slot) to (end) (no to-slot, leaving the stop slot).
"""
from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model

from database import db
from database.migrations.stub import stub

REACHED = """
INSERT INTO dialog_slot (dialog_id, agent_id, slot_id, is_counted, started_at, channel, times_shown)
SELECT e.dialog_id, d.agent_id, e.slot_id, d.is_counted, d.started_at, d.channel, COUNT(*)
FROM event e JOIN dialog d ON d.id = e.dialog_id
WHERE e.slot_id IS NOT NULL
GROUP BY e.dialog_id, d.agent_id, e.slot_id, d.is_counted, d.started_at, d.channel
"""
STEPS = """
INSERT INTO dialog_step (dialog_id, agent_id, from_slot_id, to_slot_id, is_counted, started_at, channel, transitions)
SELECT dialog_id, agent_id, from_slot_id, to_slot_id, is_counted, started_at, channel, COUNT(*)
FROM (
    SELECT e.dialog_id, d.agent_id,
           LAG(e.slot_id) OVER (PARTITION BY e.dialog_id ORDER BY e.timestamp, e.id) AS from_slot_id,
           e.slot_id AS to_slot_id, d.is_counted, d.started_at, d.channel
    FROM event e JOIN dialog d ON d.id = e.dialog_id
    WHERE e.slot_id IS NOT NULL
) AS sequence
WHERE from_slot_id IS NULL OR from_slot_id <> to_slot_id
GROUP BY dialog_id, agent_id, from_slot_id, to_slot_id, is_counted, started_at, channel
"""
ENDINGS = """
INSERT INTO dialog_step (dialog_id, agent_id, from_slot_id, to_slot_id, is_counted, started_at, channel, transitions)
SELECT id, agent_id, stop_slot_id, NULL, is_counted, started_at, channel, 1 FROM dialog
"""


def path_tables(version=7):
    """The `dialog_slot` and `dialog_step` tables as version 7 created them (agent
    and slots are foreign keys), or, for a later version up to 10, with
    `dialog_slot` indexed by start first, as version 8 left it."""
    dialogs, agents, slots = stub("dialog"), stub("agent"), stub("slot")
    slot_index = ("agent", "is_counted", "slot", "started_at") if version < 8 else ("agent", "is_counted", "started_at", "slot")

    class DialogSlot(Model):
        dialog = ForeignKeyField(dialogs, on_delete="CASCADE")
        agent = ForeignKeyField(agents, on_delete="CASCADE", index=False)
        slot = ForeignKeyField(slots, on_delete="CASCADE", index=False)
        is_counted = BooleanField()
        started_at = DateTimeField()
        channel = CharField()
        times_shown = IntegerField()

        class Meta:
            database = db
            table_name = "dialog_slot"
            legacy_table_names = False  # index names as the models give them
            indexes = (((*slot_index, "channel", "times_shown"), False),)

    class DialogStep(Model):
        dialog = ForeignKeyField(dialogs, on_delete="CASCADE")
        agent = ForeignKeyField(agents, on_delete="CASCADE", index=False)
        from_slot = ForeignKeyField(slots, null=True, on_delete="CASCADE", index=False)
        to_slot = ForeignKeyField(slots, null=True, on_delete="CASCADE", index=False)
        is_counted = BooleanField()
        started_at = DateTimeField()
        channel = CharField()
        transitions = IntegerField()

        class Meta:
            database = db
            table_name = "dialog_step"
            legacy_table_names = False  # index names as the models give them
            indexes = ((("agent", "is_counted", "started_at", "from_slot", "to_slot", "channel", "transitions"), False),)

    return DialogSlot, DialogStep


def apply(migrator):
    db.create_tables(path_tables())
    for statement in (REACHED, STEPS, ENDINGS):
        db.execute_sql(statement)
