"""Version 20: the dialogs behind a number. Each list reads one index in its own
order (newest first): all counted dialogs, a slot's (reached), a step's; and an
export request keeps the selector of the list it was asked from (transcripts)."""
from playhouse.migrate import migrate

from database import db

LIST_INDEXES = {
    "dialog": ("agent_id", "is_counted", "started_at", "id", "channel"),
    "dialog_slot": ("agent_id", "slot_id", "is_counted", "started_at", "dialog_id", "channel"),
    "dialog_step": ("agent_id", "from_slot_id", "to_slot_id", "is_counted", "started_at", "dialog_id", "channel"),
}


def apply(migrator):
    changes = [
        migrator.add_index(table, columns)
        for table, columns in LIST_INDEXES.items()
        if columns not in {tuple(index.columns) for index in db.get_indexes(table)}  # new databases have them
    ]
    migrate(*changes)
    if "selector" not in {column.name for column in db.get_columns("export_request")}:
        # plain SQL: peewee's migrator rebuilds an SQLite table for a NOT NULL column, cascading deletes
        db.execute_sql("ALTER TABLE export_request ADD COLUMN selector TEXT NOT NULL DEFAULT '{}'")
