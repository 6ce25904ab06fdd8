"""Version 24: an agent can be archived (hidden from Analytics and subscriptions, its
data kept, its key refused) and restored; `archived_at` is when, NULL while in use."""
from peewee import DateTimeField
from playhouse.migrate import migrate

from database import db


def apply(migrator):
    if "archived_at" not in {column.name for column in db.get_columns("agent")}:
        migrate(migrator.add_column("agent", "archived_at", DateTimeField(null=True)))
