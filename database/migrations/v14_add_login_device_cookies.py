"""Version 14: failed log-ins name the device cookie they carried, so that a device
that guesses is locked out like an address."""
from peewee import CharField
from playhouse.migrate import migrate

from database import db


def apply(migrator):
    if "device" not in {column.name for column in db.get_columns("login_failure")}:
        migrate(
            migrator.add_column("login_failure", "device", CharField(null=True)),
            migrator.add_index("login_failure", ("device", "at")),
        )
