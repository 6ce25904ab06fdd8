"""Version 2: export items get a claim token and retry times; failed log-ins are kept."""
from peewee import CharField, DateTimeField, Model
from playhouse.migrate import migrate

from database import db


class LoginFailureV2(Model):
    """The `login_failure` table as version 2 created it."""

    email = CharField()
    address = CharField()
    at = DateTimeField()

    class Meta:
        database = db
        table_name = "login_failure"


def apply(migrator):
    migrate(
        migrator.add_column("export_item", "claim_token", CharField(null=True)),
        migrator.add_column("export_item", "not_before", DateTimeField(null=True)),
        migrator.add_column("export_item", "failing_since", DateTimeField(null=True)),
    )
    LoginFailureV2.create_table(safe=True)
    migrate(
        migrator.add_index("login_failure", ("email", "address", "at")),
        migrator.add_index("login_failure", ("address", "at")),
    )
