"""Version 13: each account chooses its CSV's separator (see `models.Account`)."""
from database import db


def apply(migrator):
    if "csv_separator" not in {column.name for column in db.get_columns("account")}:
        db.execute_sql("ALTER TABLE account ADD COLUMN csv_separator VARCHAR(1) NOT NULL DEFAULT ','")
