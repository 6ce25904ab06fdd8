"""Version 18: import jobs get the export items' claim and lease (`database.claims.Lifecycle`).
A job left running by the version before keeps its old rule: its worker counts as
gone two minutes after its last progress. Plain ALTER TABLE for the NOT NULL
column, as in version 4."""
from datetime import timedelta

from peewee import CharField, DateTimeField, IntegerField, Model
from playhouse.migrate import migrate

from database import db


class ImportJobV18(Model):
    """The columns of `import_job` that version 18 sets for jobs left running."""

    state = CharField()
    updated_at = DateTimeField()
    lease_until = DateTimeField(null=True)
    attempts = IntegerField()

    class Meta:
        database = db
        table_name = "import_job"


def apply(migrator):
    if "claim_token" not in {column.name for column in db.get_columns("import_job")}:  # new databases have them
        migrate(
            migrator.add_column("import_job", "claim_token", CharField(null=True)),
            migrator.add_column("import_job", "lease_until", DateTimeField(null=True)),
        )
        db.execute_sql("ALTER TABLE import_job ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    left_running = ImportJobV18.select().where((ImportJobV18.state == "running") & ImportJobV18.lease_until.is_null())
    for job in left_running:
        ImportJobV18.update(lease_until=job.updated_at + timedelta(minutes=2), attempts=1).where(ImportJobV18.id == job.id).execute()
