"""Schema versions, and how to move a database from each to the next.

`flask --app app upgrade-db` (and `init-db`, and the container's start) applies
what is missing. Each version's migration is a module of its own here
(`vNN_<what it does>`), frozen: it spells out its own tables, columns and SQL and
never calls application code, so that it still means the same thing after the
models and the ingestion path change.
"""
import importlib
import pkgutil

from peewee import IntegerField, Model
from playhouse.migrate import SchemaMigrator

from database import db
from database.bulk import hold_lock
from models import MODELS


class SchemaVersion(Model):
    version = IntegerField()

    class Meta:
        database = db
        table_name = "schema_version"


def _migrations():
    """The `vNN_*` modules here in version order; a gap in the numbers is a mistake, caught at import."""
    names = sorted(module.name for module in pkgutil.iter_modules(__path__) if module.name[:1] == "v" and module.name[1:3].isdigit())
    numbers = [int(name[1:3]) for name in names]
    if numbers != list(range(2, len(names) + 2)):
        raise RuntimeError(f"migration modules must be numbered v02, v03, … without gaps: {names}")
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


MIGRATIONS = _migrations()  # MIGRATIONS[n - 1].apply upgrades version n to n + 1
LATEST = len(MIGRATIONS) + 1


def current_version():
    """The database's schema version; 0 for an empty database, 1 for one from before versions."""
    tables = set(db.get_tables())
    if "schema_version" in tables:
        return SchemaVersion.select(SchemaVersion.version).scalar()
    return 1 if "account" in tables else 0


def upgrade():
    """Create a new database, or bring an old one up to date. Returns (from, to) versions.

    Under the schema lock: replicas starting together upgrade one after the other,
    and the later ones find the schema up to date.
    """
    with db.atomic():
        hold_lock("schema", 0)
        found = current_version()
        if found == 0:
            db.create_tables(MODELS)
        else:
            migrator = SchemaMigrator.from_database(db.obj)
            for migration in MIGRATIONS[found - 1 :]:
                migration.apply(migrator)
        SchemaVersion.create_table(safe=True)
        SchemaVersion.delete().execute()
        SchemaVersion.create(version=LATEST)
    return found, LATEST
