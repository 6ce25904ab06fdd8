"""Version 25: each account's last log-in, for Admin (see `models.Account`)."""
from peewee import DateTimeField
from playhouse.migrate import migrate

from database import db


def apply(migrator):
    if "last_login_at" not in {column.name for column in db.get_columns("account")}:
        migrate(migrator.add_column("account", "last_login_at", DateTimeField(null=True)))
