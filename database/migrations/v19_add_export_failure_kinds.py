"""Version 19: an export item records the kind of its failure beside the reason, and
the Exports page words the kind instead of reading the reason's first words. Items
that failed, or wait for a retry, get the kind their reason's first words gave;
skipped items did not fail and get none."""
from peewee import Case, CharField, Model, TextField
from playhouse.migrate import migrate

from database import db


class ExportItemV19(Model):
    """The columns of `export_item` that version 19 reads and sets."""

    state = CharField()
    error = TextField(null=True)
    error_kind = CharField(null=True)

    class Meta:
        database = db
        table_name = "export_item"


KINDS_BY_FIRST_WORDS = [  # how the Exports page read an item's error before version 19
    ("The mail server could not be reached", "mail-unreachable"),
    ("The mail server refused the recipient", "mail-recipient-refused"),
    ("The mail server answered 4", "mail-deferred"),
    *((f"The mail server answered {digit}", "mail-rejected") for digit in "012356789"),
    ("The report could not be written", "report-not-written"),
    ("The database could not be reached", "database-unreachable"),
    ("The email was sent, but recording it failed", "sent-not-recorded"),
    ("The database refused", "database-refused"),
    ("This account no longer has access", "no-access"),
]


def apply(migrator):
    if "error_kind" not in {column.name for column in db.get_columns("export_item")}:  # new databases have it
        migrate(migrator.add_column("export_item", "error_kind", CharField(null=True)))
    kind = Case(None, [(ExportItemV19.error.startswith(words), kind) for words, kind in KINDS_BY_FIRST_WORDS], "unexpected")
    (ExportItemV19.update(error_kind=kind)
     .where(ExportItemV19.error.is_null(False) & ExportItemV19.error_kind.is_null() & (ExportItemV19.state != "skipped"))
     .execute())
