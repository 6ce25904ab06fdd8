"""Version 3: the report counts per stop slot over a range of start times."""
from playhouse.migrate import migrate


def apply(migrator):
    migrate(
        migrator.drop_index("dialog", "dialog_agent_id_is_counted_started_at_channel_stop_slot_id"),
        migrator.add_index("dialog", ("agent_id", "is_counted", "stop_slot_id", "started_at", "channel")),
    )
