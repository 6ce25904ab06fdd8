"""Schema versions, and how to move a database from each to the next.

`flask --app app upgrade-db` (and `init-db`, and the container's start) applies
what is missing. A migration spells out its own columns instead of borrowing the
models' fields, so that it still means the same thing after the models change.
"""
import json
from datetime import timedelta

from peewee import BigIntegerField, BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField
from playhouse.migrate import SchemaMigrator, SqliteMigrator, migrate

from database import db
from database.bulk import hold_lock
from models import MODELS


class SchemaVersion(Model):
    version = IntegerField()

    class Meta:
        database = db
        table_name = "schema_version"


class LoginFailureV2(Model):
    """The `login_failure` table as version 2 created it."""

    email = CharField()
    address = CharField()
    at = DateTimeField()

    class Meta:
        database = db
        table_name = "login_failure"


def add_claims_retries_and_login_throttling(migrator):
    """2: export items get a claim token and retry times; failed log-ins are kept."""
    migrate(
        migrator.add_column("export_item", "claim_token", CharField(null=True)),
        migrator.add_column("export_item", "not_before", DateTimeField(null=True)),
        migrator.add_column("export_item", "failing_since", DateTimeField(null=True)),
    )
    LoginFailureV2.create_table(safe=True)
    migrate(
        migrator.add_index("login_failure", ("email", "address", "at")),
        migrator.add_index("login_failure", ("address", "at")),
    )


def index_dialogs_by_stop_slot(migrator):
    """3: the report counts per stop slot over a range of start times."""
    migrate(
        migrator.drop_index("dialog", "dialog_agent_id_is_counted_started_at_channel_stop_slot_id"),
        migrator.add_index("dialog", ("agent_id", "is_counted", "stop_slot_id", "started_at", "channel")),
    )


def add_session_versions_and_disabled_accounts(migrator):
    """4: log-out ends every session of an account; admins can disable accounts.

    Plain ALTER TABLE: peewee's SQLite migrator would rebuild the table for a NOT
    NULL column, and dropping the old `account` table cascades into its exports.
    """
    db.execute_sql("ALTER TABLE account ADD COLUMN is_disabled BOOLEAN NOT NULL DEFAULT FALSE")
    db.execute_sql("ALTER TABLE account ADD COLUMN session_version INTEGER NOT NULL DEFAULT 0")


class ExportRequestV5(Model):
    channels = TextField()

    class Meta:
        database = db
        table_name = "export_request"


def store_channel_lists_as_json(migrator):
    """5: a request's channels become a JSON list (one per line could be split by a channel's name)."""
    for request in ExportRequestV5.select(ExportRequestV5.id, ExportRequestV5.channels):
        names = request.channels.split("\n") if request.channels else []
        ExportRequestV5.update(channels=json.dumps(names)).where(ExportRequestV5.id == request.id).execute()


def add_report_kinds(migrator):
    """6: a request asks for one kind of report (every older one is Stop slots)."""
    db.execute_sql("ALTER TABLE export_request ADD COLUMN kind VARCHAR(255) NOT NULL DEFAULT 'stop-slots'")


class Stub(Model):
    """A table another migration's foreign keys point at; only its id matters."""

    class Meta:
        database = db


def stub(table):
    return type(f"{table}_stub", (Stub,), {"Meta": type("Meta", (), {"table_name": table})})


def path_tables(version=7):
    """The `dialog_slot` and `dialog_step` tables as version 7 created them (agent and
    slots foreign keys), or as version 11 rebuilt them (plain ids; `dialog_slot`
    indexed by start first, as version 8 left it)."""
    dialogs, agents, slots = stub("dialog"), stub("agent"), stub("slot")

    def reference(table, column, null=False):
        if version < 11:
            return ForeignKeyField(table, null=null, on_delete="CASCADE", index=False)
        return IntegerField(null=null, column_name=column)

    slot_index = ("agent", "is_counted", "slot", "started_at") if version < 8 else ("agent", "is_counted", "started_at", "slot")

    class DialogSlot(Model):
        dialog = ForeignKeyField(dialogs, on_delete="CASCADE")
        agent = reference(agents, "agent_id")
        slot = reference(slots, "slot_id")
        is_counted = BooleanField()
        started_at = DateTimeField()
        channel = CharField()
        times_shown = IntegerField()

        class Meta:
            database = db
            table_name = "dialog_slot"
            legacy_table_names = False  # index names as the models give them
            indexes = (((*slot_index, "channel", "times_shown"), False),)

    class DialogStep(Model):
        dialog = ForeignKeyField(dialogs, on_delete="CASCADE")
        agent = reference(agents, "agent_id")
        from_slot = reference(slots, "from_slot_id", null=True)
        to_slot = reference(slots, "to_slot_id", null=True)
        is_counted = BooleanField()
        started_at = DateTimeField()
        channel = CharField()
        transitions = IntegerField()

        class Meta:
            database = db
            table_name = "dialog_step"
            legacy_table_names = False  # index names as the models give them
            indexes = ((("agent", "is_counted", "started_at", "from_slot", "to_slot", "channel", "transitions"), False),)

    return DialogSlot, DialogStep


def add_slot_paths(migrator):
    """7: the slots each dialog reached and the steps of its path, for the report family
    (computed here from the stored events)."""
    import ingestion

    db.create_tables(path_tables())
    ingestion.backfill_paths()


def daily_tables():
    """The `daily_reach` and `daily_step` tables as version 8 created them."""
    agents, slots = stub("agent"), stub("slot")

    class DailyReachV8(Model):
        agent = ForeignKeyField(agents, on_delete="CASCADE", index=False)
        day = DateField()
        channel = CharField()
        slot = ForeignKeyField(slots, on_delete="CASCADE", index=False)
        reached = IntegerField()
        times_shown = IntegerField()

        class Meta:
            database = db
            table_name = "daily_reach"
            indexes = ((("agent", "day", "channel", "slot"), True),)

    class DailyStepV8(Model):
        agent = ForeignKeyField(agents, on_delete="CASCADE", index=False)
        day = DateField()
        channel = CharField()
        from_slot = IntegerField()
        to_slot = IntegerField()
        dialogs = IntegerField()
        transitions = IntegerField()

        class Meta:
            database = db
            table_name = "daily_step"
            indexes = ((("agent", "day", "channel", "from_slot", "to_slot"), True),)

    return DailyReachV8, DailyStepV8


def add_daily_totals(migrator):
    """8: per-day totals of the slot and step rows, so the Slot funnel and Slot paths
    sum days instead of dialogs; `dialog_slot` indexed by start first, for the partial
    days at a period's edges (totals computed here from the stored rows)."""
    import daily_totals

    by_slot_first = ["agent_id", "is_counted", "slot_id", "started_at", "channel", "times_shown"]
    for index in db.get_indexes("dialog_slot"):
        if index.columns == by_slot_first:  # its name depends on how version 7 came to be
            migrate(migrator.drop_index("dialog_slot", index.name))
    migrate(migrator.add_index("dialog_slot", ("agent_id", "is_counted", "started_at", "slot_id", "channel", "times_shown")))
    db.create_tables(daily_tables())
    daily_totals.rebuild()


def import_tables():
    """The `import_cursor` and `import_job` tables as version 9 created them."""
    agents, accounts = stub("agent"), stub("account")

    class ImportCursorV9(Model):
        agent = ForeignKeyField(agents, on_delete="CASCADE", index=False)
        source = TextField()
        last_row = BigIntegerField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "import_cursor"
            indexes = ((("agent", "source"), True),)

    class ImportJobV9(Model):
        account = ForeignKeyField(accounts, on_delete="CASCADE")
        agent = ForeignKeyField(agents, on_delete="CASCADE")
        kind = CharField()
        file_name = CharField()
        path = CharField()
        options = TextField(default="{}")
        state = CharField(default="queued")
        done = BigIntegerField(default=0)
        total = BigIntegerField(default=0)
        imported = IntegerField(default=0)
        duplicates = IntegerField(default=0)
        skipped = IntegerField(default=0)
        reasons = TextField(default="[]")
        error = TextField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        finished_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "import_job"

    return ImportCursorV9, ImportJobV9


def add_imports(migrator):
    """9: incremental imports remember how far they read; Admin → Import keeps its jobs."""
    db.create_tables(import_tables())


def subscription_tables():
    """The `subscription` and `subscription_run` tables as version 10 created them."""
    accounts = stub("account")

    class SubscriptionV10(Model):
        account = ForeignKeyField(accounts, on_delete="CASCADE")
        kinds = TextField()
        agents = TextField()
        channels = TextField(default="[]")
        frequency = CharField()
        weekday = IntegerField(default=0)
        day = IntegerField(default=1)
        at = CharField()
        skip_empty = BooleanField(default=False)
        is_paused = BooleanField(default=False)
        starts_at = DateTimeField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "subscription"

    class SubscriptionRunV10(Model):
        subscription = ForeignKeyField(SubscriptionV10, on_delete="CASCADE", index=False)
        first_day = DateField()
        last_day = DateField()
        due_at = DateTimeField()
        started_at = DateTimeField()
        note = TextField(null=True)

        class Meta:
            database = db
            table_name = "subscription_run"
            indexes = ((("subscription", "first_day"), True),)

    return SubscriptionV10, SubscriptionRunV10


def add_subscriptions(migrator):
    """10: scheduled reports; a scheduled export request names the run that made it."""
    subscription, run = subscription_tables()
    db.create_tables([subscription, run])
    if "subscription_run_id" not in {column.name for column in db.get_columns("export_request")}:
        migrate(migrator.add_column("export_request", "subscription_run_id", ForeignKeyField(run, null=True, on_delete="SET NULL", field=run.id)))


PATH_REFERENCES = {"dialog_slot": ("agent_id", "slot_id"), "dialog_step": ("agent_id", "from_slot_id", "to_slot_id")}


def free_path_rows_of_slot_checks(migrator):
    """11: a path row's agent and slots become plain ids (see `models.DialogSlot`).
    PostgreSQL drops the constraints; SQLite cannot, so each table is rebuilt under
    its own name, indexes and row ids unchanged."""
    if not isinstance(migrator, SqliteMigrator):
        migrate(*(migrator.drop_foreign_key_constraint(table, column)
                  for table, columns in PATH_REFERENCES.items() for column in columns))
        return
    for model in path_tables(version=11):
        table = model._meta.table_name
        db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_v10"')
        for index in db.get_indexes(f"{table}_v10"):
            db.execute_sql(f'DROP INDEX "{index.name}"')
        db.create_tables([model])
        columns = ", ".join(f'"{column}"' for column in model._meta.columns)
        db.execute_sql(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{table}_v10"')
        db.execute_sql(f'DROP TABLE "{table}_v10"')


def traffic_table():
    """The `agent_traffic` table as version 12 created it."""

    class AgentTraffic(Model):
        agent = ForeignKeyField(stub("agent"), on_delete="CASCADE", index=False)
        hour = DateTimeField()
        events = BigIntegerField()
        last_received_at = DateTimeField()

        class Meta:
            database = db
            table_name = "agent_traffic"
            legacy_table_names = False
            indexes = ((("agent", "hour"), True),)

    return AgentTraffic


def add_agent_traffic(migrator):
    """12: events received per agent and hour, for the agent page. Stored events are
    counted at the start of their own timestamp's day (when they arrived was not
    kept), and that day's latest timestamp stands for when they were received."""
    db.create_tables([traffic_table()])
    day = "DATETIME(DATE(e.timestamp))" if isinstance(migrator, SqliteMigrator) else "DATE_TRUNC('day', e.timestamp)"
    db.execute_sql(
        "INSERT INTO agent_traffic (agent_id, hour, events, last_received_at)"
        f" SELECT d.agent_id, {day}, COUNT(*), MAX(e.timestamp) FROM event e"
        f" JOIN dialog d ON d.id = e.dialog_id GROUP BY d.agent_id, {day}"
    )


def add_csv_separators(migrator):
    """13: each account chooses its CSV's separator (see `models.Account`)."""
    if "csv_separator" not in {column.name for column in db.get_columns("account")}:
        db.execute_sql("ALTER TABLE account ADD COLUMN csv_separator VARCHAR(1) NOT NULL DEFAULT ','")


def add_login_device_cookies(migrator):
    """14: failed log-ins name the device cookie they carried, so that a device
    that guesses is locked out like an address."""
    if "device" not in {column.name for column in db.get_columns("login_failure")}:
        migrate(
            migrator.add_column("login_failure", "device", CharField(null=True)),
            migrator.add_index("login_failure", ("device", "at")),
        )


def index_runs_by_whole_period(migrator):
    """15: a subscription's run is unique per period, first *and* last day, so that an
    edited subscription whose next period begins on the first day of one already sent
    still sends it. Indexes are found by their columns: their names are peewee's."""
    first_day, period = ("subscription_id", "first_day"), ("subscription_id", "first_day", "last_day")
    indexes = {tuple(index.columns): index.name for index in db.get_indexes("subscription_run") if index.unique}
    changes = []
    if first_day in indexes:
        changes.append(migrator.drop_index("subscription_run", indexes[first_day]))
    if period not in indexes:  # a database created by this version has it already
        changes.append(migrator.add_index("subscription_run", period, unique=True))
    migrate(*changes)


def count_traffic_by_quarter_hour(migrator):
    """16: the agent page's traffic is counted per quarter hour, so that "today" is
    exact in time zones whose midnight falls within a UTC hour (+05:30, +05:45). The
    hour rows stand as the quarters they begin."""
    if "hour" in {column.name for column in db.get_columns("agent_traffic")}:
        db.execute_sql("ALTER TABLE agent_traffic RENAME COLUMN hour TO quarter")


def add_new_api_keys(migrator):
    """17: a new API key waits server-side for its one showing (see `models.NewApiKey`),
    no longer in the session cookie."""

    class NewApiKeyV17(Model):
        agent = ForeignKeyField(stub("agent"), on_delete="CASCADE", unique=True)
        account = ForeignKeyField(stub("account"), on_delete="CASCADE")
        api_key = CharField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "new_api_key"

    db.create_tables([NewApiKeyV17])


class ImportJobV18(Model):
    """The columns of `import_job` that version 18 sets for jobs left running."""

    state = CharField()
    updated_at = DateTimeField()
    lease_until = DateTimeField(null=True)
    attempts = IntegerField()

    class Meta:
        database = db
        table_name = "import_job"


def add_import_claims(migrator):
    """18: import jobs get the export items' claim and lease (`claims.Lifecycle`). A job
    left running by the version before keeps its old rule: its worker counts as gone
    two minutes after its last progress. Plain ALTER TABLE for the NOT NULL column,
    as in version 4."""
    if "claim_token" not in {column.name for column in db.get_columns("import_job")}:  # new databases have them
        migrate(
            migrator.add_column("import_job", "claim_token", CharField(null=True)),
            migrator.add_column("import_job", "lease_until", DateTimeField(null=True)),
        )
        db.execute_sql("ALTER TABLE import_job ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    left_running = ImportJobV18.select().where((ImportJobV18.state == "running") & ImportJobV18.lease_until.is_null())
    for job in left_running:
        ImportJobV18.update(lease_until=job.updated_at + timedelta(minutes=2), attempts=1).where(ImportJobV18.id == job.id).execute()


MIGRATIONS = [
    add_claims_retries_and_login_throttling,
    index_dialogs_by_stop_slot,
    add_session_versions_and_disabled_accounts,
    store_channel_lists_as_json,
    add_report_kinds,
    add_slot_paths,
    add_daily_totals,
    add_imports,
    add_subscriptions,
    free_path_rows_of_slot_checks,
    add_agent_traffic,
    add_csv_separators,
    add_login_device_cookies,
    index_runs_by_whole_period,
    count_traffic_by_quarter_hour,
    add_new_api_keys,
    add_import_claims,
]  # MIGRATIONS[n - 1] upgrades version n to n + 1
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
                migration(migrator)
        SchemaVersion.create_table(safe=True)
        SchemaVersion.delete().execute()
        SchemaVersion.create(version=LATEST)
    return found, LATEST
