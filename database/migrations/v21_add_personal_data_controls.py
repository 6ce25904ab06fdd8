"""Version 21: personal data under control. Agents get `Mask personal data` (off for
the agents there were, whose teams did not ask for it; on for new ones, as the model
says) and `Also mask`; a dialog records why its texts are gone (expired or erased);
the dialogs whose texts are kept are indexed by start (for the purge of
TRANSCRIPT_DAYS); and the audit of who read which transcript begins."""
from peewee import CharField, DateTimeField, ForeignKeyField, Model, PostgresqlDatabase, TextField
from playhouse.migrate import migrate

from database import db


class AccountV21(Model):
    class Meta:
        database = db
        table_name = "account"


class AgentV21(Model):
    class Meta:
        database = db
        table_name = "agent"


class DialogV21(Model):
    class Meta:
        database = db
        table_name = "dialog"


class AuditEntryV21(Model):
    """The audit table as version 21 creates it."""

    at = DateTimeField()
    account = ForeignKeyField(AccountV21, null=True, on_delete="SET NULL", index=False)
    account_email = CharField()
    agent = ForeignKeyField(AgentV21, null=True, on_delete="SET NULL", index=False)
    agent_name = CharField()
    action = CharField()
    dialog = ForeignKeyField(DialogV21, null=True, on_delete="SET NULL", index=False)
    filters = TextField(default="")
    address = CharField(default="")

    class Meta:
        database = db
        table_name = "audit_entry"
        indexes = ((("at",), False), (("account", "at"), False), (("agent", "at"), False))


def apply(migrator):
    columns = {table: {column.name for column in db.get_columns(table)} for table in ("agent", "dialog")}
    if "mask_personal_data" not in columns["agent"]:
        # plain SQL: peewee's migrator rebuilds an SQLite table for a NOT NULL column, cascading deletes
        boolean = "BOOLEAN" if isinstance(db.obj, PostgresqlDatabase) else "INTEGER"
        db.execute_sql(f"ALTER TABLE agent ADD COLUMN mask_personal_data {boolean} NOT NULL DEFAULT FALSE")
        db.execute_sql("ALTER TABLE agent ADD COLUMN also_mask TEXT NOT NULL DEFAULT ''")
    if "texts_removed" not in columns["dialog"]:
        migrate(migrator.add_column("dialog", "texts_removed", CharField(null=True)))
    db.execute_sql("CREATE INDEX IF NOT EXISTS dialog_texts_kept_by_start ON dialog (started_at) WHERE texts_removed IS NULL")
    AuditEntryV21.create_table(safe=True)
