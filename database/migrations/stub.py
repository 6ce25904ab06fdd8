"""Stand-ins for the tables a migration's foreign keys point at (only their id
matters). Frozen, as every migration is: they rely on it meaning what it means now."""
from peewee import Model

from database import db


class Stub(Model):
    class Meta:
        database = db


def stub(table):
    """A model of `table` with nothing but its id."""
    return type(f"{table}_stub", (Stub,), {"Meta": type("Meta", (), {"table_name": table})})
