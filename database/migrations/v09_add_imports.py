"""Version 9: incremental imports remember how far they read; Admin → Import keeps its jobs."""
from peewee import BigIntegerField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField

from database import db
from database.migrations.stub import stub


def import_tables():
    """The `import_cursor` and `import_job` tables as version 9 created them."""
    agents, accounts = stub("agent"), stub("account")

    class ImportCursorV9(Model):
        agent = ForeignKeyField(agents, on_delete="CASCADE", index=False)
        source = TextField()
        last_row = BigIntegerField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "import_cursor"
            indexes = ((("agent", "source"), True),)

    class ImportJobV9(Model):
        account = ForeignKeyField(accounts, on_delete="CASCADE")
        agent = ForeignKeyField(agents, on_delete="CASCADE")
        kind = CharField()
        file_name = CharField()
        path = CharField()
        options = TextField(default="{}")
        state = CharField(default="queued")
        done = BigIntegerField(default=0)
        total = BigIntegerField(default=0)
        imported = IntegerField(default=0)
        duplicates = IntegerField(default=0)
        skipped = IntegerField(default=0)
        reasons = TextField(default="[]")
        error = TextField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        finished_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "import_job"

    return ImportCursorV9, ImportJobV9


def apply(migrator):
    db.create_tables(import_tables())
