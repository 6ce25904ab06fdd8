"""Getting dialog events and slot catalogues in: validation, then one transaction.

Validation is pure (it only looks at the payload) so that the API and the
`import-events` command reject exactly the same things with the same words.
Writing is all or nothing, and idempotent: an event that was already stored
(same dialog, sender, slot, text and instant) is skipped, so a re-sent batch
changes nothing.
"""
import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from peewee import EXCLUDED, SQL, Case, Value, fn

import daily_totals
from dialog_summaries import Summary, extend, summarize
from database import db
from database.bulk import Statement, among, append_rows, chunks, hold_lock, insert_rows, insert_rows_returning, update_rows
from models import AgentTraffic, Channel, Dialog, DialogSlot, DialogStep, Event, Slot, utcnow
from names import CONTROL_MESSAGE, has_control

SENDERS = ("user", "bot", "system")
EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(2100, 1, 1)

# field -> (required, which length limit applies: "name" or "text")
EVENT_FIELDS = {
    "dialog_id": (True, "name"),
    "channel": (True, "name"),
    "sender": (True, "name"),
    "slot": (False, "name"),
    "text": (False, "text"),
    "timestamp": (True, "name"),
}
# The columns of the per-dialog path rows, in the models' order: peewee writes a
# one-row INSERT's columns in that order, and the rows' values must follow it.
SLOT_ROW = (
    DialogSlot.dialog, DialogSlot.agent, DialogSlot.slot,
    DialogSlot.is_counted, DialogSlot.started_at, DialogSlot.channel, DialogSlot.times_shown,
)
STEP_ROW = (
    DialogStep.dialog, DialogStep.agent, DialogStep.from_slot, DialogStep.to_slot,
    DialogStep.is_counted, DialogStep.started_at, DialogStep.channel, DialogStep.transitions,
)
SLOT_FIELDS = {
    "key": (True, "name"),
    "name": (True, "name"),
    "type": (True, "name"),
    "text": (False, "text"),
}


@dataclass(frozen=True)
class Limits:
    """How much one request may carry (settings API_MAX_BATCH, API_MAX_NAME_LENGTH, API_MAX_TEXT_LENGTH)."""

    batch: int = 10_000
    name: int = 200  # ids, keys, names, types, channels
    text: int = 20_000  # bot and message texts

    @classmethod
    def from_config(cls, config):
        return cls(config["API_MAX_BATCH"], config["API_MAX_NAME_LENGTH"], config["API_MAX_TEXT_LENGTH"])


@dataclass(frozen=True)
class EventIn:
    dialog_id: str
    channel: str
    sender: str
    slot: str | None
    text: str | None
    timestamp: datetime  # naive UTC

    @property
    def fingerprint(self):
        """A 64-bit digest of what makes this event itself within its dialog."""
        parts = (self.sender, self.slot or "", "\0" if self.text is None else self.text, self.timestamp.isoformat())
        digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class SlotIn:
    key: str
    name: str
    type: str
    text: str


class IngestError(Exception):
    """The batch was rejected; `errors` says what is wrong where."""

    def __init__(self, errors):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


def error(index, field, message):
    return {"index": index, "field": field, "message": message}


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL breaks PostgreSQL text; lone surrogates break UTF-8


def _unstorable(text):
    """Why `text` cannot be stored as given (NUL, lone surrogate), or None."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    return "must not contain NUL characters" if found.group() == "\x00" else "must be valid Unicode (it has a lone surrogate)"


def _check_fields(index, item, spec, limits):
    """Type, presence, length and unknown-field checks shared by events and slots."""
    if not isinstance(item, dict):
        return [error(index, None, "must be a JSON object")]
    errors = [error(index, name, "unknown field") for name in item if name not in spec]
    for name, (required, limit) in spec.items():
        value = item.get(name)
        max_length = getattr(limits, limit)
        if value is None:
            if required:
                errors.append(error(index, name, "is required"))
        elif not isinstance(value, str):
            errors.append(error(index, name, "must be a string"))
        elif required and not value.strip():
            errors.append(error(index, name, "must not be empty"))
        elif len(value) > max_length:
            errors.append(error(index, name, f"must be at most {max_length} characters"))
        elif reason := _unstorable(value):
            errors.append(error(index, name, reason))
        elif limit == "name" and has_control(value):
            errors.append(error(index, name, CONTROL_MESSAGE))
    return errors


def parse_timestamp(value):
    """ISO 8601 with an offset -> naive UTC datetime; ValueError with a reason otherwise."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-05-01T14:03:00+02:00") from None
    if parsed.tzinfo is None:
        raise ValueError("must include a UTC offset, e.g. +00:00 or Z")
    try:
        utc = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("must be between 1970 and 2100")
    return utc


def _check_batch(payload, limits, what):
    if not isinstance(payload, list):
        return [error(None, None, f"the body must be a JSON list of {what}")]
    if len(payload) > limits.batch:
        return [error(None, None, f"at most {limits.batch} {what} per request; split the batch")]
    return []


def validate_events(payload, limits):
    """Check a batch of events; returns (events, errors) and events only if no errors."""
    errors = _check_batch(payload, limits, "events")
    if errors:
        return [], errors
    events = []
    for index, item in enumerate(payload):
        item_errors = _check_fields(index, item, EVENT_FIELDS, limits)
        bad = {err["field"] for err in item_errors}
        if isinstance(item, dict):
            if "sender" not in bad and item["sender"] not in SENDERS:
                item_errors.append(error(index, "sender", "must be one of: " + ", ".join(SENDERS)))
            if "timestamp" not in bad:
                try:
                    timestamp = parse_timestamp(item["timestamp"])
                except ValueError as exc:
                    item_errors.append(error(index, "timestamp", str(exc)))
        if item_errors:
            errors.extend(item_errors)
        else:
            slot = item.get("slot") or None
            events.append(EventIn(item["dialog_id"], item["channel"], item["sender"], slot, item.get("text"), timestamp))
    return ([] if errors else events), errors


def validate_slots(payload, limits):
    """Check a slot catalogue; returns (slots, errors) and slots only if no errors."""
    errors = _check_batch(payload, limits, "slots")
    if errors:
        return [], errors
    slots, seen = [], set()
    for index, item in enumerate(payload):
        item_errors = _check_fields(index, item, SLOT_FIELDS, limits)
        if not item_errors and item["key"] in seen:
            item_errors.append(error(index, "key", f"slot {item['key']!r} appears twice in this list"))
        if item_errors:
            errors.extend(item_errors)
        else:
            seen.add(item["key"])
            slots.append(SlotIn(item["key"], item["name"], item["type"], item.get("text") or ""))
    return ([] if errors else slots), errors


def valid_slots(slots, limits):
    """The slots (`SlotIn`) that pass the checks of a slot list (`validate_slots`):
    a slot enters the catalogue by the same rules whichever way it comes in."""
    return [slot for slot in slots if not _check_fields(None, asdict(slot), SLOT_FIELDS, limits)]


def inserting_new(model, fields, returned=()):
    """A `Statement` inserting rows (tuples of values for `fields`) and skipping
    those a unique index already holds; with RETURNING `returned`, if given."""
    return Statement(lambda values: model.insert_from(values, fields).on_conflict_ignore().returning(*returned))


NEW_CHANNELS = inserting_new(Channel, (Channel.agent, Channel.name))
NEW_SLOTS = inserting_new(Slot, (Slot.agent, Slot.key, Slot.name, Slot.type, Slot.text))
NEW_DIALOGS = inserting_new(
    Dialog,
    (Dialog.agent, Dialog.external_id, Dialog.channel, Dialog.started_at, Dialog.is_counted, Dialog.stop_slot),
    returned=(Dialog.external_id, Dialog.id),
)
SUMMARY_UPDATE = Statement(lambda: Dialog.update({Dialog.is_counted: None, Dialog.stop_slot: None}).where(Dialog.id == 0))
TIMES_SHOWN_UPDATE = Statement(lambda: DialogSlot.update({DialogSlot.times_shown: 0}).where(DialogSlot.id == 0))
TRANSITIONS_UPDATE = Statement(lambda: DialogStep.update({DialogStep.transitions: 0}).where(DialogStep.id == 0))
TRAFFIC_COUNT = Statement(lambda values: AgentTraffic.insert_from(
    values, (AgentTraffic.agent, AgentTraffic.quarter, AgentTraffic.events, AgentTraffic.last_received_at)
).on_conflict(
    conflict_target=[AgentTraffic.agent, AgentTraffic.quarter],
    update={AgentTraffic.events: AgentTraffic.events + EXCLUDED.events, AgentTraffic.last_received_at: EXCLUDED.last_received_at},
).returning())
NEW_EVENTS = inserting_new(Event, (Event.dialog, Event.sender, Event.slot, Event.text, Event.timestamp, Event.fingerprint))


def upsert_slots(agent, slots):
    """Create or update slots by key; returns (created, updated).

    In key order, as a batch of events creates them: two writers then never each
    hold a slot the other waits for.
    """
    slots = sorted(slots, key=lambda s: s.key)
    with db.atomic():
        keys = [s.key for s in slots]
        existing = set()
        for part in chunks(keys):
            existing.update(k for (k,) in Slot.select(Slot.key).where((Slot.agent == agent) & Slot.key.in_(part)).tuples())
        rows = [dict(agent=agent.id, key=s.key, name=s.name, type=s.type, text=s.text) for s in slots]
        for part in chunks(rows):
            (
                Slot.insert_many(part)
                .on_conflict(
                    conflict_target=[Slot.agent, Slot.key],
                    update={Slot.name: SQL("excluded.name"), Slot.type: SQL("excluded.type"), Slot.text: SQL("excluded.text")},
                )
                .execute()
            )
    return len(slots) - len(existing), len(existing)


def describe_slots(agent, slots):
    """Add what an importer knows about slots (SlotIn, sorted by key) without
    overriding a team's own catalogue: new keys are created as given; a stored
    slot gets a type only where it has `unknown`, and a text only where it has none."""
    if not slots:
        return
    # literals, not parameters: insert_rows binds only the rows' values
    fill_type = Case(None, [(Slot.type == SQL("'unknown'"), SQL("excluded.type"))], Slot.type)
    fill_text = Case(None, [(Slot.text == SQL("''"), SQL("excluded.text"))], Slot.text)
    query = Statement(lambda values: Slot.insert_from(values, (Slot.agent, Slot.key, Slot.name, Slot.type, Slot.text)).on_conflict(
        conflict_target=[Slot.agent, Slot.key], update={Slot.type: fill_type, Slot.text: fill_text}
    ).returning())
    insert_rows(query, [(agent.id, s.key, s.name, s.type, s.text) for s in slots])


def ingest_events(agent, events, max_channels=None, described=()):
    """Store a validated batch and bring the summaries of the dialogs it touches up to date.

    Returns (new, duplicates). Raises IngestError, writing nothing, when an event
    names a stored dialog on a different channel, or a new channel beyond the
    agent's `max_channels` (checked first, every such event named). `described`
    is what an importer knows about the batch's slots (`describe_slots`).

    Dialogs the batch creates have all their events in it: their summaries are
    computed in Python and inserted with them (`dialog_summaries.summarize`).
    Stored dialogs whose new events all come after their stored ones go on from
    their stored summary (`extend`), only the changed rows written. Any other
    stored dialog is recomputed from all its events in SQL, so events may arrive
    in any order.

    Concurrent batches stay exact on PostgreSQL (READ COMMITTED): the touched
    dialogs are locked before their events are written, so a batch's summary
    refresh runs after every other writer of those dialogs has committed and
    sees their events. Locks are taken in one global order (the agent's channel
    lock, then rows by keys, then ids, then the daily totals' keys), so two
    batches never wait for each other in a circle.
    """
    with db.atomic():
        _ensure_channels(agent, events, max_channels)
        describe_slots(agent, described)
        fingerprints = [e.fingerprint for e in events]
        slot_ids = _ensure_slots(agent, {e.slot for e in events if e.slot})
        dialog_ids, batch, created = _ensure_dialogs(agent, events, fingerprints, slot_ids)
        stored = {dialog_ids[ext]: batch[ext] for ext in batch if ext not in created}
        was = _appended_to(stored)
        new = insert_rows(
            NEW_EVENTS,
            [
                (dialog_ids[e.dialog_id], e.sender, slot_ids.get(e.slot), e.text, e.timestamp, fingerprint)
                for e, fingerprint in zip(events, fingerprints)
            ],
        )
        refreshed = sorted(pk for pk in stored if pk not in was)
        before = daily_totals.contributions(refreshed)
        for part in chunks(refreshed):
            refresh_dialog_summaries(part)
            refresh_paths(part)
        after = daily_totals.contributions(refreshed)
        _insert_paths(agent, {dialog_ids[ext]: summary for ext, summary in created.items()}, after)
        _extend_paths(agent, {pk: (old, extend(old, stored[pk], slot_ids)) for pk, old in was.items()}, before, after)
        daily_totals.apply_change(before, after)
        _count_traffic(agent, new)
    return new, len(events) - new


def _count_traffic(agent, new):
    """Add a batch's new events to the agent's count of this quarter hour, and note when
    it came (last of the batch's writes, so that every writer takes this row's lock last)."""
    now = utcnow()
    insert_rows(TRAFFIC_COUNT, [(agent.id, AgentTraffic.quarter_of(now), new, now)])


def _appended_to(stored):
    """The stored summaries of the dialogs (id -> the batch's events for it) whose
    new events all come after their stored ones: their paths only go on. Each
    summary carries the ids of its rows (`StoredSummary`)."""
    was = {}
    for part in chunks(sorted(stored), 5000):
        for pk, summary in _stored_summaries(part).items():
            if min(e.timestamp for e in stored[pk]) > summary.last_event_at:
                was[pk] = summary
    return was


@dataclass(frozen=True)
class StoredSummary(Summary):
    """A `Summary` read from a dialog's rows, with their ids (slot or step -> row id)."""

    slot_row_ids: dict = None
    step_row_ids: dict = None


def _stored_summaries(dialog_ids):
    """The `StoredSummary` of these dialogs, read from their rows (and their last
    event's instant), as raw tuples: peewee's row conversion costs more here than
    the queries."""
    last = dict(db.execute(
        Event.select(Event.dialog, fn.MAX(Event.timestamp)).where(among(Event.dialog, dialog_ids)).group_by(Event.dialog)
    ).fetchall())
    reached, slot_row_ids = defaultdict(Counter), defaultdict(dict)
    slots = DialogSlot.select(DialogSlot.id, DialogSlot.dialog, DialogSlot.slot, DialogSlot.times_shown)
    for row_id, pk, slot, times in db.execute(slots.where(among(DialogSlot.dialog, dialog_ids))).fetchall():
        reached[pk][slot] = times
        slot_row_ids[pk][slot] = row_id
    steps, step_row_ids = defaultdict(Counter), defaultdict(dict)
    paths = DialogStep.select(DialogStep.id, DialogStep.dialog, DialogStep.from_slot, DialogStep.to_slot, DialogStep.transitions)
    for row_id, pk, from_slot, to_slot, transitions in db.execute(paths.where(among(DialogStep.dialog, dialog_ids))).fetchall():
        steps[pk][from_slot, to_slot] = transitions
        step_row_ids[pk][from_slot, to_slot] = row_id
    dialogs = Dialog.select(Dialog.id, Dialog.channel, Dialog.started_at, Dialog.is_counted, Dialog.stop_slot)
    return {
        pk: StoredSummary(
            channel, _instant(started_at), _instant(last[pk]), bool(is_counted), stop_slot, reached[pk], steps[pk],
            slot_row_ids[pk], step_row_ids[pk],
        )
        for pk, channel, started_at, is_counted, stop_slot in db.execute(dialogs.where(among(Dialog.id, dialog_ids))).fetchall()
        if pk in last
    }


def _instant(value):
    """A datetime column read raw: SQLite hands it back as text."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _path_rows(agent, dialog_id, summary, slots, steps):
    """The slot and step rows of a summarised dialog, for the given slots and steps."""
    copied = (summary.is_counted, summary.started_at, summary.channel)
    return (
        [(dialog_id, agent.id, slot, *copied, summary.reached[slot]) for slot in slots],
        [(dialog_id, agent.id, *step, *copied, summary.steps[step]) for step in steps],
    )


def _insert_paths(agent, summaries, totals):
    """Insert the slot and step rows of dialogs created by this batch (dialog id ->
    `Summary`), and add what the counted ones contribute to the daily `totals`."""
    slot_rows, step_rows = [], []
    for dialog_id, summary in summaries.items():
        slots, steps = _path_rows(agent, dialog_id, summary, summary.reached, summary.steps)
        slot_rows += slots
        step_rows += steps
        if summary.is_counted:
            daily_totals.add_rows(totals, agent.id, summary, summary.reached, summary.steps)
    append_rows(SLOT_ROW, slot_rows)
    append_rows(STEP_ROW, step_rows)


def _extend_paths(agent, changes, before, after):
    """Bring the rows of dialogs whose paths went on (id -> (`StoredSummary`, new
    `Summary`)) up to date, touching only the rows that changed, and the daily
    `before` and `after` with them. A dialog that became counted has every row
    rewritten, as each copies the counted flag."""
    slot_rows, step_rows, slot_updates, step_updates, gone_steps, rewritten = [], [], [], [], [], []
    for pk, (old, new) in sorted(changes.items()):
        if old.is_counted != new.is_counted:
            rewritten.append(pk)
            slots, steps = _path_rows(agent, pk, new, new.reached, new.steps)
            daily_totals.add_rows(after, agent.id, new, new.reached, new.steps)  # it was not counted before
        else:
            added_slots, updated_slots, _ = _row_changes(old.reached, new.reached)
            added_steps, updated_steps, removed_steps = _row_changes(old.steps, new.steps)
            slots, steps = _path_rows(agent, pk, new, added_slots, added_steps)
            slot_updates += [(new.reached[slot], old.slot_row_ids[slot]) for slot in updated_slots]
            step_updates += [(new.steps[step], old.step_row_ids[step]) for step in updated_steps]
            gone_steps += [old.step_row_ids[step] for step in removed_steps]
            if new.is_counted:
                daily_totals.add_rows(before, agent.id, old, updated_slots, updated_steps + removed_steps)
                daily_totals.add_rows(after, agent.id, new, added_slots + updated_slots, added_steps + updated_steps)
        slot_rows += slots
        step_rows += steps
    for part in chunks(rewritten, 5000):
        DialogSlot.delete().where(among(DialogSlot.dialog, part)).execute()
        DialogStep.delete().where(among(DialogStep.dialog, part)).execute()
    if gone_steps:
        DialogStep.delete().where(among(DialogStep.id, gone_steps)).execute()
    update_rows(SUMMARY_UPDATE, [(new.is_counted, new.stop_slot, pk) for pk, (_, new) in sorted(changes.items())])
    update_rows(TIMES_SHOWN_UPDATE, slot_updates)
    update_rows(TRANSITIONS_UPDATE, step_updates)
    append_rows(SLOT_ROW, slot_rows)
    append_rows(STEP_ROW, step_rows)


def _row_changes(old, new):
    """Keys (slots or steps) added, whose count changed, and removed, from one count to the other."""
    return (
        [key for key in new if key not in old],
        [key for key in new if key in old and old[key] != new[key]],
        [key for key in old if key not in new],
    )


def _ensure_channels(agent, events, max_channels):
    """Record the batch's channels for the filter form, at most `max_channels` per
    agent (a cap, so that a bot key cannot make every filter page huge), before
    anything else is written; IngestError names every event on a channel beyond it.

    New channels take the places left in the order the batch first names them. A
    batch bringing new channels holds the agent's channel lock until it commits,
    so that two batches never both take the last place.
    """
    channels = sorted({e.channel for e in events})
    if max_channels is not None and _unknown_channels(agent, channels):
        hold_lock("channels", agent.id)
        new = _unknown_channels(agent, channels)  # again: a batch that held the lock may have added some
        room = max(max_channels - Channel.select().where(Channel.agent == agent).count(), 0)
        admitted = set(list(dict.fromkeys(e.channel for e in events if e.channel in new))[:room])
        message = "this agent may have at most {} channels (API_MAX_CHANNELS); {!r} would be one more"
        refused = [
            error(index, "channel", message.format(max_channels, e.channel))
            for index, e in enumerate(events)
            if e.channel in new and e.channel not in admitted
        ]
        if refused:
            raise IngestError(refused)
    insert_rows(NEW_CHANNELS, [(agent.id, name) for name in channels])


def _unknown_channels(agent, channels):
    """The names among `channels` (sorted) the agent has no channel of yet."""
    known = set()
    for part in chunks(channels):
        query = Channel.select(Channel.name).where((Channel.agent == agent) & among(Channel.name, part))
        known.update(name for (name,) in query.tuples())
    return {name for name in channels if name not in known}


def _ensure_slots(agent, keys):
    """Map slot keys to ids, creating unknown keys as type `unknown` named by their key."""
    keys = sorted(keys)
    insert_rows(NEW_SLOTS, [(agent.id, k, k, "unknown", "") for k in keys])
    ids = {}
    for part in chunks(keys):
        ids.update(Slot.select(Slot.key, Slot.id).where((Slot.agent == agent) & among(Slot.key, part)).tuples())
    return ids


def _stored_dialogs(agent, external_ids):
    """external id -> (row id, channel) of the stored dialogs among `external_ids`."""
    stored = {}
    for part in chunks(external_ids):
        query = Dialog.select(Dialog.external_id, Dialog.id, Dialog.channel).where(
            (Dialog.agent == agent) & among(Dialog.external_id, part)
        )
        stored.update((ext, (pk, channel)) for ext, pk, channel in query.tuples())
    return stored


def _lock_dialogs(dialog_ids):
    """Hold these dialogs until the transaction ends, taking the locks in id order.

    SQLite needs nothing: `BEGIN IMMEDIATE` already serialises its writers.
    """
    if not db.for_update:
        return
    for part in chunks(sorted(dialog_ids)):
        list(Dialog.select(Dialog.id).where(among(Dialog.id, part)).order_by(Dialog.id).for_update().tuples())


def _ensure_dialogs(agent, events, fingerprints, slot_ids):
    """Map dialog ids to row ids, creating new dialogs with their summaries and
    locking all of them; returns (ids, batch, created): `batch` maps each dialog to
    its events in the batch (each once, in arrival order), `created` the dialogs
    this batch created to their `Summary`.

    A dialog never changes channel, not even when another batch created it a
    moment ago on a different one (on PostgreSQL; that dialog is then not ours).
    """
    firsts = {}  # dialog -> fingerprint -> the first event with it, in arrival order
    for e, fingerprint in zip(events, fingerprints):
        firsts.setdefault(e.dialog_id, {}).setdefault(fingerprint, e)
    batch = {ext: list(kept.values()) for ext, kept in firsts.items()}
    external_ids = sorted(batch)
    existing = _stored_dialogs(agent, external_ids)
    summaries = {ext: summarize(batch[ext], slot_ids) for ext in external_ids if ext not in existing}
    new_rows = [
        (agent.id, ext, s.channel, s.started_at, s.is_counted, s.stop_slot) for ext, s in summaries.items()
    ]
    inserted = dict(insert_rows_returning(NEW_DIALOGS, new_rows))
    fresh = {ext: (pk, summaries[ext].channel) for ext, pk in inserted.items()}
    fresh.update(_stored_dialogs(agent, [ext for ext in summaries if ext not in inserted]))  # another batch's of a moment ago
    stored = {**existing, **fresh}
    _lock_dialogs(pk for pk, _ in stored.values())
    errors = []
    for index, e in enumerate(events):
        stored_channel = stored[e.dialog_id][1]
        if e.channel == stored_channel:
            continue
        if e.dialog_id in fresh and summaries[e.dialog_id].channel == stored_channel:
            message = f"dialog {e.dialog_id!r} is on channel {stored_channel!r} in this batch"
        else:
            message = f"dialog {e.dialog_id!r} is stored on channel {stored_channel!r}"
        errors.append(error(index, "channel", message))
    if errors:
        raise IngestError(errors)
    ids = {ext: pk for ext, (pk, _) in stored.items()}
    return ids, batch, {ext: summaries[ext] for ext in inserted}


def refresh_dialog_summaries(dialog_ids):
    """Recompute start, counted flag and stop slot of these dialogs from their events.

    The stop slot is the slot of the latest slot-naming event, by timestamp and
    then arrival order (the event id), so events may arrive in any order.
    """
    e = Event.alias()
    started_at = e.select(fn.MIN(e.timestamp)).where(e.dialog == Dialog.id)
    is_counted = fn.EXISTS(e.select(SQL("1")).where((e.dialog == Dialog.id) & (e.sender == "user")))
    stop_slot = (
        e.select(e.slot)
        .where((e.dialog == Dialog.id) & e.slot.is_null(False))
        .order_by(e.timestamp.desc(), e.id.desc())
        .limit(1)
    )
    (
        Dialog.update(started_at=started_at, is_counted=is_counted, stop_slot=stop_slot)
        .where(Dialog.id.in_(dialog_ids))
        .execute()
    )


def refresh_paths(dialog_ids):
    """Recompute the slots these dialogs reached and the steps of their paths from
    their events (after their summaries, whose filter fields the rows copy).

    A path is the slot-naming events in order (timestamp, then arrival), repeats
    merged; it runs from (start) to (end), which a missing slot stands for.
    """
    DialogSlot.delete().where(DialogSlot.dialog.in_(dialog_ids)).execute()
    DialogStep.delete().where(DialogStep.dialog.in_(dialog_ids)).execute()
    copied = (Dialog.is_counted, Dialog.started_at, Dialog.channel)
    reached = (
        Event.select(Event.dialog, Dialog.agent, Event.slot, *copied, fn.COUNT(SQL("*")))
        .join(Dialog)
        .where(Event.dialog.in_(dialog_ids) & Event.slot.is_null(False))
        .group_by(Event.dialog, Dialog.agent, Event.slot, *copied)
    )
    DialogSlot.insert_from(reached, SLOT_ROW).execute()

    previous = fn.LAG(Event.slot).over(partition_by=[Event.dialog], order_by=[Event.timestamp, Event.id])
    sequence = (
        Event.select(
            Event.dialog.alias("dialog_id"), Dialog.agent.alias("agent_id"), previous.alias("from_slot"),
            Event.slot.alias("to_slot"), *(field.alias(field.name) for field in copied),
        )
        .join(Dialog)
        .where(Event.dialog.in_(dialog_ids) & Event.slot.is_null(False))
        .cte("sequence")
    )
    moves = sequence.c.from_slot.is_null() | (sequence.c.from_slot != sequence.c.to_slot)
    grouped = [
        sequence.c.dialog_id, sequence.c.agent_id, sequence.c.from_slot, sequence.c.to_slot,
        *(getattr(sequence.c, f.name) for f in copied),
    ]
    steps = sequence.select_from(*grouped, fn.COUNT(SQL("*"))).where(moves).group_by(*grouped)
    DialogStep.insert_from(steps, STEP_ROW).execute()
    endings = Dialog.select(Dialog.id, Dialog.agent, Dialog.stop_slot, Value(None), *copied, Value(1)).where(
        Dialog.id.in_(dialog_ids)
    )
    DialogStep.insert_from(endings, STEP_ROW).execute()


def backfill_paths(chunk=5000):
    """Compute the slot and step rows of every stored dialog (an upgrade, or data
    written without the ingestion path), a chunk of dialogs per transaction.
    `daily_totals.rebuild()` then sums them per day."""
    ids = [dialog_id for (dialog_id,) in Dialog.select(Dialog.id).order_by(Dialog.id).tuples()]
    for start in range(0, len(ids), chunk):
        with db.atomic():
            refresh_paths(ids[start : start + chunk])
