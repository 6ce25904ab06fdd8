"""Version 26: an import can be removed. An event records the import job that stored
it (indexed only where it has one); a job records when its removal was asked for and
when it was done, and per quarter hour the new events it added to its agent's traffic.
A job's skip reasons become one entry per reason with how many and where first."""
import json

from peewee import BigIntegerField, DateTimeField, ForeignKeyField, Model, PostgresqlDatabase, TextField

from database import db
from database.migrations.stub import stub


class ImportTrafficV26(Model):
    import_job = ForeignKeyField(stub("import_job"), on_delete="CASCADE", index=False)
    quarter = DateTimeField()
    events = BigIntegerField()

    class Meta:
        database = db
        table_name = "import_traffic"
        indexes = ((("import_job", "quarter"), True),)


class ImportJobV24(Model):
    """The column of `import_job` whose content version 26 reshapes."""

    reasons = TextField()

    class Meta:
        database = db
        table_name = "import_job"


COLUMNS = {
    "event": (("import_job_id", "INTEGER"),),
    "import_job": (("removal_asked_at", "{timestamp}"), ("removed_at", "{timestamp}")),
}


def apply(migrator):
    timestamp = "TIMESTAMP" if isinstance(db.obj, PostgresqlDatabase) else "DATETIME"
    for table, columns in COLUMNS.items():
        present = {column.name for column in db.get_columns(table)}
        for name, definition in columns:
            if name not in present:
                db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {name} {definition.format(timestamp=timestamp)}")
    db.execute_sql("CREATE INDEX IF NOT EXISTS event_import_job ON event (import_job_id, dialog_id) WHERE import_job_id IS NOT NULL")
    db.create_tables([ImportTrafficV26], safe=True)
    for job in ImportJobV24.select():
        pairs = json.loads(job.reasons)
        if pairs and len(pairs[0]) == 2:  # [where, reason], one per skipped item kept
            grouped = {}
            for where, reason in pairs:
                grouped.setdefault(reason, [reason, 0, where])[1] += 1
            ImportJobV24.update(reasons=json.dumps(list(grouped.values()))).where(ImportJobV24.id == job.id).execute()
