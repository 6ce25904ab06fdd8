"""Version 15: a subscription's run is unique per period, first *and* last day, so that
an edited subscription whose next period begins on the first day of one already sent
still sends it. Indexes are found by their columns: their names are peewee's."""
from playhouse.migrate import migrate

from database import db


def apply(migrator):
    first_day, period = ("subscription_id", "first_day"), ("subscription_id", "first_day", "last_day")
    indexes = {tuple(index.columns): index.name for index in db.get_indexes("subscription_run") if index.unique}
    changes = []
    if first_day in indexes:
        changes.append(migrator.drop_index("subscription_run", indexes[first_day]))
    if period not in indexes:  # a database created by this version has it already
        changes.append(migrator.add_index("subscription_run", period, unique=True))
    migrate(*changes)
