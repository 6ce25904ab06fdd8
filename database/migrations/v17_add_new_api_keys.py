"""Version 17: a new API key waits server-side for its one showing (see
`models.NewApiKey`), no longer in the session cookie."""
from peewee import CharField, DateTimeField, ForeignKeyField, Model

from database import db
from database.migrations.stub import stub


class NewApiKeyV17(Model):
    agent = ForeignKeyField(stub("agent"), on_delete="CASCADE", unique=True)
    account = ForeignKeyField(stub("account"), on_delete="CASCADE")
    api_key = CharField()
    created_at = DateTimeField()

    class Meta:
        database = db
        table_name = "new_api_key"


def apply(migrator):
    db.create_tables([NewApiKeyV17])
