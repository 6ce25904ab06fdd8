"""Version 10: scheduled reports; a scheduled export request names the run that made it."""
from peewee import BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField
from playhouse.migrate import migrate

from database import db
from database.migrations.stub import stub


def subscription_tables():
    """The `subscription` and `subscription_run` tables as version 10 created them."""
    accounts = stub("account")

    class SubscriptionV10(Model):
        account = ForeignKeyField(accounts, on_delete="CASCADE")
        kinds = TextField()
        agents = TextField()
        channels = TextField(default="[]")
        frequency = CharField()
        weekday = IntegerField(default=0)
        day = IntegerField(default=1)
        at = CharField()
        skip_empty = BooleanField(default=False)
        is_paused = BooleanField(default=False)
        starts_at = DateTimeField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "subscription"

    class SubscriptionRunV10(Model):
        subscription = ForeignKeyField(SubscriptionV10, on_delete="CASCADE", index=False)
        first_day = DateField()
        last_day = DateField()
        due_at = DateTimeField()
        started_at = DateTimeField()
        note = TextField(null=True)

        class Meta:
            database = db
            table_name = "subscription_run"
            indexes = ((("subscription", "first_day"), True),)

    return SubscriptionV10, SubscriptionRunV10


def apply(migrator):
    subscription, run = subscription_tables()
    db.create_tables([subscription, run])
    if "subscription_run_id" not in {column.name for column in db.get_columns("export_request")}:
        migrate(migrator.add_column("export_request", "subscription_run_id", ForeignKeyField(run, null=True, on_delete="SET NULL", field=run.id)))
