"""Every table of Slotlens (their connection is `database.db`).

Times are stored as naive UTC datetimes; conversion to the instance time zone
happens only at the edges (forms, pages, emails).

Ingestion keeps summaries in the events' transaction, so that no report scans
events: per dialog (`Dialog`: start, counted flag, stop slot; `DialogSlot` and
`DialogStep`: the slots it reached and the steps of its path), and per day
(`DailyReach`, `DailyStep`: those rows summed; see ingest/daily_totals.py).
"""
import json
from datetime import datetime, timezone

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from database import db


def utcnow():
    """The current time as a naive UTC datetime, the form every table stores."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Account(BaseModel):
    email = CharField(unique=True)  # stored lower-case
    password_hash = CharField()  # "" (access.passwords.NOT_SET) while an invited account has not joined
    is_admin = BooleanField(default=False)
    is_disabled = BooleanField(default=False)
    # Stored in the session cookie at log-in; bumping it ends every session of the account.
    session_version = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    last_login_at = DateTimeField(null=True)  # None: never logged in
    # "," as SPEC has it, or ";" with a decimal comma, as Excel reads CSV where the list separator is ";"
    csv_separator = CharField(max_length=1, default=",")
    language = CharField(max_length=8, default="")  # "en" or "ru" as chosen; "" follows the browser (languages)
    browser_language = CharField(max_length=8, default="")  # the browser's at the last log-in: for emails until one is chosen


class Agent(BaseModel):
    name = CharField(unique=True)
    slug = CharField(unique=True)
    api_key_hash = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)
    mask_personal_data = BooleanField(default=True)  # event texts masked before they are written (privacy.masking)
    also_mask = TextField(default="")  # the team's own expressions, one a line, masked as [masked]
    outcome_rules = TextField(default="[]")  # JSON list in rule order (outcomes.rules)
    outcome_rules_version = IntegerField(default=0)  # bumped by every change of the rules
    outcomes_done_to = BigIntegerField(null=True)  # recomputing: the last dialog id done; None when every dialog is current
    outcomes_as_of = DateTimeField(null=True)  # when the rules (the previous ones, while recomputing) were last applied to every dialog
    archived_at = DateTimeField(null=True)  # archived: hidden from reports and subscriptions, its key refused; data kept


class NewApiKey(BaseModel):
    """A new API key waiting to be shown once, on its agent's page, to the admin who
    made it (access/api_keys.py)."""

    agent = ForeignKeyField(Agent, on_delete="CASCADE", unique=True)
    account = ForeignKeyField(Account, on_delete="CASCADE")
    api_key = CharField()
    created_at = DateTimeField(default=utcnow)


class Grant(BaseModel):
    """Gives an account access to an agent's analytics and exports."""

    account = ForeignKeyField(Account, on_delete="CASCADE", index=False)
    agent = ForeignKeyField(Agent, on_delete="CASCADE")

    class Meta:
        indexes = ((("account", "agent"), True),)


class Slot(BaseModel):
    """One step of an agent's script."""

    agent = ForeignKeyField(Agent, on_delete="CASCADE", index=False)
    key = CharField()
    name = CharField()
    type = CharField()
    text = TextField(default="")

    class Meta:
        indexes = ((("agent", "key"), True),)


class Channel(BaseModel):
    """The channels an agent's dialogs came through, for the filter form."""

    agent = ForeignKeyField(Agent, on_delete="CASCADE", index=False)
    name = CharField()

    class Meta:
        indexes = ((("agent", "name"), True),)


class Dialog(BaseModel):
    """One conversation, with the summary the report needs (kept by ingestion)."""

    agent = ForeignKeyField(Agent, on_delete="CASCADE", index=False)
    external_id = CharField()  # the bot's own dialog_id
    channel = CharField()
    started_at = DateTimeField()  # earliest event
    is_counted = BooleanField(default=False)  # has an event from the bot user
    stop_slot = ForeignKeyField(Slot, null=True, index=False)
    texts_removed = CharField(null=True)  # why its texts are gone: "expired" (TRANSCRIPT_DAYS) or "erased"
    last_event_at = DateTimeField(null=True)  # latest event: Abandoned or In progress follows the clock from it
    outcome = CharField(null=True)  # what its agent's rules gave it (outcomes.rules.MATCHED); None: no rule matched

    class Meta:
        indexes = (
            (("agent", "external_id"), True),
            (("agent", "is_counted", "stop_slot", "started_at", "channel"), False),
            (("agent", "is_counted", "started_at", "id", "channel"), False),  # the list of all counted dialogs
        )


# The dialogs whose texts are kept, by start: what the purge of TRANSCRIPT_DAYS reads (privacy.retention).
Dialog.add_index(Dialog.index(Dialog.started_at, name="dialog_texts_kept_by_start", where=Dialog.texts_removed.is_null()))


class Event(BaseModel):
    """One message of a dialog. The id is the arrival order."""

    dialog = ForeignKeyField(Dialog, on_delete="CASCADE", index=False)
    sender = CharField()  # user, bot or system
    slot = ForeignKeyField(Slot, null=True, index=False)
    text = TextField(null=True)
    timestamp = DateTimeField()
    fingerprint = BigIntegerField()  # makes a re-sent event a no-op
    # The Admin → Import job that stored it, for `Remove imported data`; a plain id,
    # as in `DialogSlot`, so that the API's inserts check no more keys.
    import_job = IntegerField(column_name="import_job_id", null=True)

    class Meta:
        indexes = (
            (("dialog", "fingerprint"), True),
            (("dialog", "timestamp"), False),
        )


# An import's events, for its removal; partial, so that events from the API cost it nothing.
Event.add_index(Event.index(Event.import_job, Event.dialog, name="event_import_job", where=Event.import_job.is_null(False)))


class DialogSlot(BaseModel):
    """A slot a dialog reached and how often it was shown, with the dialog's filter
    fields copied, indexed by start: the Slot funnel reads the partial days at a
    period's edges here. Kept by ingestion, recomputed for the dialogs a batch touches.

    The agent and slot are plain ids, as in the daily totals: a row copies them from
    its dialog and events, whose foreign keys hold, and checking them again cost
    ingestion a seventh of its time on PostgreSQL."""

    dialog = ForeignKeyField(Dialog, on_delete="CASCADE")
    agent = IntegerField(column_name="agent_id")
    slot = IntegerField(column_name="slot_id")
    is_counted = BooleanField()
    started_at = DateTimeField()
    channel = CharField()
    times_shown = IntegerField()

    class Meta:
        indexes = (
            (("agent", "is_counted", "started_at", "slot", "channel", "times_shown"), False),
            (("agent", "slot", "is_counted", "started_at", "dialog", "channel"), False),  # a slot's dialog list
        )


class DialogStep(BaseModel):
    """A step of a dialog's path (repeats merged) and how often it was taken, from
    (start) (no from-slot) to (end) (no to-slot), with the dialog's filter fields,
    indexed by start: Slot paths and Stop slots read the partial days at a period's
    edges here. Agent and slots are plain ids, as in `DialogSlot`."""

    dialog = ForeignKeyField(Dialog, on_delete="CASCADE")
    agent = IntegerField(column_name="agent_id")
    from_slot = IntegerField(column_name="from_slot_id", null=True)
    to_slot = IntegerField(column_name="to_slot_id", null=True)
    is_counted = BooleanField()
    started_at = DateTimeField()
    channel = CharField()
    transitions = IntegerField()

    class Meta:
        indexes = (
            (("agent", "is_counted", "started_at", "from_slot", "to_slot", "channel", "transitions"), False),
            (("agent", "from_slot", "to_slot", "is_counted", "started_at", "dialog", "channel"), False),  # a step's dialog list
        )


class DailyReach(BaseModel):
    """Per agent, UTC day, channel and slot: how many counted dialogs that started that
    day reached the slot, and how often it was shown to them (the `DialogSlot` rows
    summed). The Slot funnel sums whole days here instead of reading every dialog.
    Kept by ingestion in the same transaction as the events; a count may reach 0."""

    agent = ForeignKeyField(Agent, on_delete="CASCADE", index=False)
    day = DateField()
    channel = CharField()
    slot = ForeignKeyField(Slot, on_delete="CASCADE", index=False)
    reached = IntegerField()
    times_shown = IntegerField()

    class Meta:
        indexes = ((("agent", "day", "channel", "slot"), True),)


class DailyStep(BaseModel):
    """Per agent, UTC day, channel and step: the `DialogStep` rows summed, for the
    Slot paths report. (start) and (end) are slot id NO_SLOT here, because a unique
    index treats two NULLs as different rows."""

    NO_SLOT = 0

    agent = ForeignKeyField(Agent, on_delete="CASCADE", index=False)
    day = DateField()
    channel = CharField()
    from_slot = IntegerField()
    to_slot = IntegerField()
    dialogs = IntegerField()
    transitions = IntegerField()

    class Meta:
        indexes = ((("agent", "day", "channel", "from_slot", "to_slot"), True),)


class Subscription(BaseModel):
    """An account's reports emailed on a schedule (subscriptions/schedules.py), for fixed filters."""

    account = ForeignKeyField(Account, on_delete="CASCADE")
    kinds = TextField()  # JSON list of reporting.kinds keys
    agents = TextField()  # JSON list of agent ids
    channels = TextField(default="[]")  # JSON list; empty means all
    outcomes = TextField(default="[]")  # JSON list of outcomes.rules.OUTCOMES keys; empty means all
    frequency = CharField()  # subscriptions.schedules.FREQUENCIES
    weekday = IntegerField(default=0)  # weekly: 0 = Monday
    day = IntegerField(default=1)  # monthly: 1–28
    at = CharField()  # local time of day, HH:MM in TIMEZONE
    skip_empty = BooleanField(default=False)
    is_paused = BooleanField(default=False)
    starts_at = DateTimeField(default=utcnow)  # runs due before this (its creation or last change) are not sent
    created_at = DateTimeField(default=utcnow)


class SubscriptionRun(BaseModel):
    """One period of a subscription, delivered once: the unique index decides which
    worker delivers it, in the transaction that records its export requests. A period
    is its first and last day: an edited subscription's next period may begin on the
    first day of one already sent (daily, then weekly) and is a period of its own."""

    subscription = ForeignKeyField(Subscription, on_delete="CASCADE", index=False)
    first_day = DateField()
    last_day = DateField()
    due_at = DateTimeField()
    started_at = DateTimeField(default=utcnow)
    note = TextField(null=True)  # late, or agents left out, in words

    class Meta:
        indexes = ((("subscription", "first_day", "last_day"), True),)


class Alert(BaseModel):
    """An account's watch on a rate of its agents (SPEC: "Comparing periods and alerts"):
    checked once per daily or weekly period (subscriptions/schedules.py) against the
    period before, mailed only when something got worse by at least its threshold."""

    account = ForeignKeyField(Account, on_delete="CASCADE")
    agents = TextField()  # JSON list of agent ids
    channels = TextField(default="[]")  # JSON list; empty means all
    watch = CharField()  # a key of alerts.watching.WATCHES
    direction = CharField()  # "rises" or "falls"
    threshold = IntegerField()  # hundredths of a percentage point: 250 is 2.50 pp, exact at the boundary
    min_dialogs = IntegerField(default=30)  # each period's denominator; below it nothing fires
    only_significant = BooleanField(default=True)
    frequency = CharField()  # "daily" or "weekly"
    weekday = IntegerField(default=0)  # weekly: 0 = Monday
    at = CharField()  # local time of day, HH:MM in TIMEZONE
    is_paused = BooleanField(default=False)
    failing_since = DateTimeField(null=True)  # a check that could not be computed, retried by every sweep until one succeeds
    last_error = TextField(null=True)  # why, in words (no data of anyone's)
    created_at = DateTimeField(default=utcnow)


class AlertRun(BaseModel):
    """One period of an alert, checked once: the unique index decides which worker
    records it, with what it found and, when something crossed the threshold, the
    email to send (`alerts.delivery`)."""

    alert = ForeignKeyField(Alert, on_delete="CASCADE", index=False)
    first_day = DateField()
    last_day = DateField()
    checked_at = DateTimeField(default=utcnow)
    findings = TextField(default="[]")  # JSON: the changes that crossed the threshold (alerts.watching.Finding)
    note = TextField(null=True)  # e.g. "no data for Support Bot, 23–29 Nov"
    state = CharField(default="quiet")  # alerts.delivery: quiet (nothing to send), queued, sending, sent, failed
    claim_token = CharField(null=True)
    lease_until = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    not_before = DateTimeField(null=True)  # a retry's time
    error = TextField(null=True)  # why the last attempt to send failed
    sent_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("alert", "first_day", "last_day"), True),)


class ExportRequest(BaseModel):
    """One click on Stop slots: who asked, with which filters."""

    account = ForeignKeyField(Account, on_delete="CASCADE")
    date_from = DateField()
    date_to = DateField()
    kind = CharField(default="stop-slots")  # a key of reporting.kinds.KINDS
    channels = TextField(default="[]")  # a sorted JSON list; empty means all
    selector = TextField(default="{}")  # a dialog list's selector, as JSON (reporting.periods.Selector); {} for reports
    outcomes = TextField(default="[]")  # the Outcomes filter: a sorted JSON list of outcomes.rules.OUTCOMES keys; empty means all
    filters_key = CharField(index=True)  # equal for identical requests (export_queue.intake.filters_key)
    created_at = DateTimeField(default=utcnow)
    subscription_run = ForeignKeyField(SubscriptionRun, null=True, on_delete="SET NULL")  # set when scheduled

    @property
    def channel_list(self):
        return json.loads(self.channels)

    @property
    def outcome_keys(self):
        return json.loads(self.outcomes)


class ExportItem(BaseModel):
    """One agent's report within a request: a small state machine.

    queued -> building -> sent (-> expired), or -> failed with a reason.
    """

    request = ForeignKeyField(ExportRequest, backref="items", on_delete="CASCADE")
    agent = ForeignKeyField(Agent, on_delete="CASCADE")
    state = CharField(default="queued", index=True)
    attempts = IntegerField(default=0)
    lease_until = DateTimeField(null=True)  # a building item whose lease ran out is taken again
    claim_token = CharField(null=True)  # who holds the item while building
    not_before = DateTimeField(null=True)  # a retry waits until then
    failing_since = DateTimeField(null=True)  # first of the current run of mail failures
    dialogs = IntegerField(null=True)
    data_as_of = DateTimeField(null=True)
    sent_at = DateTimeField(null=True)
    expires_at = DateTimeField(null=True)
    error = TextField(null=True)  # the technical reason, for admins
    error_kind = CharField(null=True)  # export_queue.failures.FailureKind: what people are told

    @property
    def is_retrying(self):
        return self.state == "queued" and self.error is not None


class AgentTraffic(BaseModel):
    """How many new events an agent received each quarter of an hour (UTC), and when
    its latest batch came: the agent page shows data arriving without counting a big
    agent's events. Quarters, not hours, because every time zone's offset is a
    multiple of 15 minutes (+05:30, +05:45, -03:30), so "today" anywhere is a sum of
    whole quarters. Kept by ingestion, one row per agent and quarter."""

    agent = ForeignKeyField(Agent, on_delete="CASCADE", index=False)
    quarter = DateTimeField()  # its start
    events = BigIntegerField()
    last_received_at = DateTimeField()

    class Meta:
        indexes = ((("agent", "quarter"), True),)


class ImportCursor(BaseModel):
    """How far an incremental import has read a source (a Rasa SQL tracker store)."""

    agent = ForeignKeyField(Agent, on_delete="CASCADE", index=False)
    source = TextField()  # the store's URL without its password (importers.rasa_store.source_key)
    last_row = BigIntegerField()
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("agent", "source"), True),)


class ImportJob(BaseModel):
    """A file uploaded on Admin → Import, imported by a worker.

    queued -> running -> done, or -> failed with a reason (`importers.jobs.JOBS`).
    The worker running it holds a claim and renews its lease, as for export items;
    the file is deleted when it ends.
    """

    account = ForeignKeyField(Account, on_delete="CASCADE")
    agent = ForeignKeyField(Agent, on_delete="CASCADE")
    kind = CharField()  # a key of importers.jobs.KINDS
    file_name = CharField()  # as uploaded, for the page
    path = CharField()  # where the upload waits, outside any served folder
    options = TextField(default="{}")  # JSON: the CSV mapping
    state = CharField(default="queued")
    done = BigIntegerField(default=0)  # progress, in the source's units
    total = BigIntegerField(default=0)
    imported = IntegerField(default=0)
    duplicates = IntegerField(default=0)
    skipped = IntegerField(default=0)
    reasons = TextField(default="[]")  # JSON: [reason, how many, where first] per reason (importers.Outcome.groups)
    error = TextField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)  # last progress
    finished_at = DateTimeField(null=True)
    claim_token = CharField(null=True)  # the running worker's; only it may record progress or the outcome
    lease_until = DateTimeField(null=True)  # a running job past this lost its worker and may be claimed again
    attempts = IntegerField(default=0)  # claims so far: 1 unless a worker died
    removal_asked_at = DateTimeField(null=True)  # `Remove imported data` was clicked (importers.removal)
    removed_at = DateTimeField(null=True)  # what it imported is gone

    @property
    def reason_list(self):
        return json.loads(self.reasons)

    @property
    def is_finished(self):
        return self.state in ("done", "failed")

    @property
    def is_removing(self):
        """Its data is to be removed and is not yet."""
        return self.removal_asked_at is not None and self.removed_at is None


class ImportTraffic(BaseModel):
    """How many new events an import job added to its agent's `AgentTraffic` per
    quarter hour, so that removing them takes them out of the same quarters."""

    import_job = ForeignKeyField(ImportJob, on_delete="CASCADE", index=False)
    quarter = DateTimeField()
    events = BigIntegerField()

    class Meta:
        indexes = ((("import_job", "quarter"), True),)


class LoginFailure(BaseModel):
    """A failed log-in, kept for the throttling window (LOGIN_LOCKOUT)."""

    email = CharField()
    address = CharField()
    device = CharField(null=True)  # the nonce of the attempt's device cookie (access/logins.py), if it had one
    at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("email", "address", "at"), False), (("address", "at"), False), (("device", "at"), False))



class AuditEntry(BaseModel):
    """Who read which transcript, or exported which dialogs (Admin → Audit). Written
    once and never changed by the app; names are copied so that an entry outlives
    what it names. The dialog is referred to, not named: an erased dialog's new ID
    is what the audit shows."""

    at = DateTimeField(default=utcnow)
    account = ForeignKeyField(Account, null=True, on_delete="SET NULL", index=False)
    account_email = CharField()
    agent = ForeignKeyField(Agent, null=True, on_delete="SET NULL", index=False)
    agent_name = CharField()
    action = CharField()  # "transcript" (read one), "export" (asked for transcripts) or "account-deleted"
    dialog = ForeignKeyField(Dialog, null=True, on_delete="SET NULL", index=False)  # the transcript read, shown by its current ID
    filters = TextField(default="")  # an export's list: its query string; a deleted account: its email
    address = CharField(default="")  # the client's address

    class Meta:
        indexes = ((("at",), False), (("account", "at"), False), (("agent", "at"), False))

MODELS = [Account, Agent, NewApiKey, Grant, Slot, Channel, Dialog, Event, DialogSlot, DialogStep, DailyReach, DailyStep, Subscription, SubscriptionRun, Alert, AlertRun, ExportRequest, ExportItem, AgentTraffic, ImportCursor, ImportJob, ImportTraffic, LoginFailure, AuditEntry]
