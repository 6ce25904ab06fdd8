"""A Rasa SQL tracker store for tests and `make bench`: the `events` table exactly
as Rasa's SQLTrackerStore creates it (SQLAlchemy's DDL on each backend), and rows
written the way it writes them (type, timestamp, intent and action pulled out of
the event, the whole event as JSON in `data`)."""
import json
import sqlite3

import psycopg2

# As SQLAlchemy prints it; the id is SERIAL on PostgreSQL (Rasa's optional sequence).
CREATE_TABLE = """CREATE TABLE events (
\tid {id_type} NOT NULL, 
\tsender_id VARCHAR(255) NOT NULL, 
\ttype_name VARCHAR(255) NOT NULL, 
\ttimestamp FLOAT, 
\tintent_name VARCHAR(255), 
\taction_name VARCHAR(255), 
\tdata TEXT, 
\tPRIMARY KEY (id)
)"""
CREATE_INDEX = "CREATE INDEX ix_events_sender_id ON events (sender_id)"
COLUMNS = "sender_id, type_name, timestamp, intent_name, action_name, data"


def row_for(sender_id, event):
    """The row SQLTrackerStore saves for one event of a sender."""
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    return (sender_id, event["event"], event.get("timestamp"), intent, event.get("name"), json.dumps(event))


class TrackerStore:
    """A tracker store at `url` (sqlite:///path or a PostgreSQL URL) that a test fills."""

    def __init__(self, url):
        self.url = url
        if url.startswith("sqlite:"):
            self.connection, self.mark, id_type = sqlite3.connect(url[len("sqlite:///") :]), "?", "INTEGER"
        else:
            self.connection, self.mark, id_type = psycopg2.connect(url), "%s", "SERIAL"
        with self.connection:
            cursor = self.connection.cursor()
            cursor.execute(CREATE_TABLE.format(id_type=id_type))
            cursor.execute(CREATE_INDEX)

    def add(self, rows):
        """Append rows (as `row_for` makes them) in one transaction."""
        marks = ", ".join([self.mark] * 6)
        with self.connection:
            self.connection.cursor().executemany(f"INSERT INTO events ({COLUMNS}) VALUES ({marks})", rows)

    def add_tracker(self, tracker):
        self.add([row_for(tracker["sender_id"], event) for event in tracker["events"]])

    def close(self):
        self.connection.close()
