"""Version 22: outcomes. An agent keeps its outcome rules, their version and how far
the recomputation for the current version has come; a dialog keeps the outcome its
rules gave it and its latest event's instant (Abandoned or In progress follows the
clock from it); an export request and a subscription keep their Outcomes filter."""
from peewee import PostgresqlDatabase

from database import db

COLUMNS = {
    "agent": (
        ("outcome_rules", "TEXT NOT NULL DEFAULT '[]'"),
        ("outcome_rules_version", "INTEGER NOT NULL DEFAULT 0"),
        ("outcomes_done_to", "BIGINT"),
        ("outcomes_as_of", "{timestamp}"),
    ),
    "dialog": (("outcome", "VARCHAR(255)"), ("last_event_at", "{timestamp}")),
    "export_request": (("outcomes", "TEXT NOT NULL DEFAULT '[]'"),),
    "subscription": (("outcomes", "TEXT NOT NULL DEFAULT '[]'"),),
}


def apply(migrator):
    timestamp = "TIMESTAMP" if isinstance(db.obj, PostgresqlDatabase) else "DATETIME"
    for table, columns in COLUMNS.items():
        present = {column.name for column in db.get_columns(table)}
        for name, definition in columns:
            if name not in present:
                # plain SQL: peewee's migrator rebuilds an SQLite table for a NOT NULL column, cascading deletes
                db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {name} {definition.format(timestamp=timestamp)}")
    db.execute_sql(
        "UPDATE dialog SET last_event_at = (SELECT MAX(event.timestamp) FROM event WHERE event.dialog_id = dialog.id)"
        " WHERE last_event_at IS NULL"
    )
