"""Version 16: the agent page's traffic is counted per quarter hour, so that "today" is
exact in time zones whose midnight falls within a UTC hour (+05:30, +05:45). The
hour rows stand as the quarters they begin."""
from database import db


def apply(migrator):
    if "hour" in {column.name for column in db.get_columns("agent_traffic")}:
        db.execute_sql("ALTER TABLE agent_traffic RENAME COLUMN hour TO quarter")
