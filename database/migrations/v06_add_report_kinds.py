"""Version 6: a request asks for one kind of report (every older one is Stop slots)."""
from database import db


def apply(migrator):
    db.execute_sql("ALTER TABLE export_request ADD COLUMN kind VARCHAR(255) NOT NULL DEFAULT 'stop-slots'")
