"""Schema versions, and how to move a database from each to the next.

`flask --app app upgrade-db` (and `init-db`, and the container's start) applies
what is missing. Each version's migration is a module of its own here
(`vNN_<what it does>`), frozen: it spells out its own tables, columns and SQL and
never calls application code, so that it still means the same thing after the
models and the ingestion path change.
"""
from peewee import IntegerField, Model
from playhouse.migrate import SchemaMigrator

from database import db
from database.bulk import hold_lock
from database.migrations import (
    v02_add_claims_retries_and_login_throttling,
    v03_index_dialogs_by_stop_slot,
    v04_add_session_versions_and_disabled_accounts,
    v05_store_channel_lists_as_json,
    v06_add_report_kinds,
    v07_add_slot_paths,
    v08_add_daily_totals,
    v09_add_imports,
    v10_add_subscriptions,
    v11_free_path_rows_of_slot_checks,
    v12_add_agent_traffic,
    v13_add_csv_separators,
    v14_add_login_device_cookies,
    v15_index_runs_by_whole_period,
    v16_count_traffic_by_quarter_hour,
    v17_add_new_api_keys,
    v18_add_import_claims,
    v19_add_export_failure_kinds,
)
from models import MODELS


class SchemaVersion(Model):
    version = IntegerField()

    class Meta:
        database = db
        table_name = "schema_version"


MIGRATIONS = [
    v02_add_claims_retries_and_login_throttling,
    v03_index_dialogs_by_stop_slot,
    v04_add_session_versions_and_disabled_accounts,
    v05_store_channel_lists_as_json,
    v06_add_report_kinds,
    v07_add_slot_paths,
    v08_add_daily_totals,
    v09_add_imports,
    v10_add_subscriptions,
    v11_free_path_rows_of_slot_checks,
    v12_add_agent_traffic,
    v13_add_csv_separators,
    v14_add_login_device_cookies,
    v15_index_runs_by_whole_period,
    v16_count_traffic_by_quarter_hour,
    v17_add_new_api_keys,
    v18_add_import_claims,
    v19_add_export_failure_kinds,
]  # MIGRATIONS[n - 1].apply upgrades version n to n + 1
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
