"""How far an incremental import has read a Rasa SQL tracker store, per agent and
store, so that the next run reads only the rows after it."""
from models import ImportCursor, utcnow


def stopped_at(agent, source):
    """The last row the previous run of `source` (`rasa_store.source_key`) read for `agent`, or 0 before any run."""
    cursor = ImportCursor.get_or_none((ImportCursor.agent == agent) & (ImportCursor.source == source))
    return cursor.last_row if cursor else 0


def advance(agent, source, last_row):
    """Record that the run read `source` up to `last_row` for `agent`."""
    ImportCursor.insert(agent=agent, source=source, last_row=last_row, updated_at=utcnow()).on_conflict(
        conflict_target=[ImportCursor.agent, ImportCursor.source],
        update={ImportCursor.last_row: last_row, ImportCursor.updated_at: utcnow()},
    ).execute()
