"""Version 23: alerts, and the record of each period an alert checked."""
from peewee import BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField

from database import db
from database.migrations.stub import stub


class AlertV23(Model):
    account = ForeignKeyField(stub("account"), on_delete="CASCADE")
    agents = TextField()
    channels = TextField(default="[]")
    watch = CharField()
    direction = CharField()
    threshold = IntegerField()
    min_dialogs = IntegerField(default=30)
    only_significant = BooleanField(default=True)
    frequency = CharField()
    weekday = IntegerField(default=0)
    at = CharField()
    is_paused = BooleanField(default=False)
    failing_since = DateTimeField(null=True)
    last_error = TextField(null=True)
    created_at = DateTimeField()

    class Meta:
        database = db
        table_name = "alert"


class AlertRunV23(Model):
    alert = ForeignKeyField(AlertV23, on_delete="CASCADE", index=False)
    first_day = DateField()
    last_day = DateField()
    checked_at = DateTimeField()
    findings = TextField(default="[]")
    note = TextField(null=True)
    state = CharField(default="quiet")
    claim_token = CharField(null=True)
    lease_until = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    not_before = DateTimeField(null=True)
    error = TextField(null=True)
    sent_at = DateTimeField(null=True)

    class Meta:
        database = db
        table_name = "alert_run"
        indexes = ((("alert", "first_day", "last_day"), True),)


def apply(migrator):
    db.create_tables([AlertV23, AlertRunV23])
