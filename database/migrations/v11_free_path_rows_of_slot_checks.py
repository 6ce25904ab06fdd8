"""Version 11: a path row's agent and slots become plain ids (see `models.DialogSlot`).
PostgreSQL drops the constraints; SQLite cannot, so each table is rebuilt under its
own name, indexes and row ids unchanged."""
from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model
from playhouse.migrate import SqliteMigrator, migrate

from database import db
from database.migrations.stub import stub

PATH_REFERENCES = {"dialog_slot": ("agent_id", "slot_id"), "dialog_step": ("agent_id", "from_slot_id", "to_slot_id")}


def path_tables():
    """The `dialog_slot` and `dialog_step` tables as version 11 rebuilt them: agent and
    slots plain ids, `dialog_slot` indexed by start first (as version 8 left it)."""
    dialogs = stub("dialog")

    class DialogSlot(Model):
        dialog = ForeignKeyField(dialogs, on_delete="CASCADE")
        agent = IntegerField(column_name="agent_id")
        slot = IntegerField(column_name="slot_id")
        is_counted = BooleanField()
        started_at = DateTimeField()
        channel = CharField()
        times_shown = IntegerField()

        class Meta:
            database = db
            table_name = "dialog_slot"
            legacy_table_names = False  # index names as the models give them
            indexes = ((("agent", "is_counted", "started_at", "slot", "channel", "times_shown"), False),)

    class DialogStep(Model):
        dialog = ForeignKeyField(dialogs, on_delete="CASCADE")
        agent = IntegerField(column_name="agent_id")
        from_slot = IntegerField(null=True, column_name="from_slot_id")
        to_slot = IntegerField(null=True, column_name="to_slot_id")
        is_counted = BooleanField()
        started_at = DateTimeField()
        channel = CharField()
        transitions = IntegerField()

        class Meta:
            database = db
            table_name = "dialog_step"
            legacy_table_names = False  # index names as the models give them
            indexes = ((("agent", "is_counted", "started_at", "from_slot", "to_slot", "channel", "transitions"), False),)

    return DialogSlot, DialogStep


def apply(migrator):
    if not isinstance(migrator, SqliteMigrator):
        migrate(*(migrator.drop_foreign_key_constraint(table, column)
                  for table, columns in PATH_REFERENCES.items() for column in columns))
        return
    for model in path_tables():
        table = model._meta.table_name
        db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_v10"')
        for index in db.get_indexes(f"{table}_v10"):
            db.execute_sql(f'DROP INDEX "{index.name}"')
        db.create_tables([model])
        columns = ", ".join(f'"{column}"' for column in model._meta.columns)
        db.execute_sql(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{table}_v10"')
        db.execute_sql(f'DROP TABLE "{table}_v10"')
