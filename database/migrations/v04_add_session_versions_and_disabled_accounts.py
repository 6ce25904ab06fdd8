"""Version 4: log-out ends every session of an account; admins can disable accounts.

Plain ALTER TABLE: peewee's SQLite migrator would rebuild the table for a NOT
NULL column, and dropping the old `account` table cascades into its exports.
"""
from database import db


def apply(migrator):
    db.execute_sql("ALTER TABLE account ADD COLUMN is_disabled BOOLEAN NOT NULL DEFAULT FALSE")
    db.execute_sql("ALTER TABLE account ADD COLUMN session_version INTEGER NOT NULL DEFAULT 0")
