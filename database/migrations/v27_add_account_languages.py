"""Version 27: the language an account chose, and its browser's at the last log-in
(see `models.Account` and `languages`)."""
from database import db


def apply(migrator):
    present = {column.name for column in db.get_columns("account")}
    for name in ("language", "browser_language"):
        if name not in present:
            db.execute_sql(f"ALTER TABLE account ADD COLUMN {name} VARCHAR(8) NOT NULL DEFAULT ''")
