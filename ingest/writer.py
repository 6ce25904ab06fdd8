"""Writing a validated batch (`ingest.rules`) in one transaction.

Writing is all or nothing, and idempotent: an event that was already stored
(same dialog, sender, slot, text and instant) is skipped, so a re-sent batch
changes nothing. The dialogs a batch touches have their summary and path rows
(`ingest.summaries`, `ingest.paths`), the daily totals (`ingest.daily_totals`),
the agent's traffic count (`ingest.traffic`) and the dialogs' outcomes
(`outcomes.evaluation`) brought up to date with it.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from peewee import SQL, Case

from database import db
from database.bulk import Statement, among, append_rows, chunks, hold_lock, insert_rows, insert_rows_returning, update_rows
from ingest import daily_totals, paths, traffic
from ingest.rules import IngestError, error, stored_forms
from ingest.summaries import Summary, extend, summarize
from models import Channel, Dialog, DialogSlot, DialogStep, Event, Slot
from outcomes import evaluation
from privacy.masking import Masker
from privacy.retention import REMOVED


def inserting_new(model, fields, returned=()):
    """A `Statement` inserting rows (tuples of values for `fields`) and skipping
    those a unique index already holds; with RETURNING `returned`, if given."""
    return Statement(lambda values: model.insert_from(values, fields).on_conflict_ignore().returning(*returned))


NEW_CHANNELS = inserting_new(Channel, (Channel.agent, Channel.name))
NEW_SLOTS = inserting_new(Slot, (Slot.agent, Slot.key, Slot.name, Slot.type, Slot.text))
NEW_DIALOGS = inserting_new(
    Dialog,
    (Dialog.agent, Dialog.external_id, Dialog.channel, Dialog.started_at, Dialog.last_event_at, Dialog.is_counted, Dialog.stop_slot),
    returned=(Dialog.external_id, Dialog.id),
)
SUMMARY_UPDATE = Statement(  # SET in the model's column order, which peewee follows
    lambda: Dialog.update({Dialog.is_counted: None, Dialog.stop_slot: None, Dialog.last_event_at: None}).where(Dialog.id == 0)
)
TIMES_SHOWN_UPDATE = Statement(lambda: DialogSlot.update({DialogSlot.times_shown: 0}).where(DialogSlot.id == 0))
TRANSITIONS_UPDATE = Statement(lambda: DialogStep.update({DialogStep.transitions: 0}).where(DialogStep.id == 0))
EVENT_ROW = (Event.dialog, Event.sender, Event.slot, Event.text, Event.timestamp, Event.fingerprint, Event.import_job)
NEW_EVENTS = inserting_new(Event, EVENT_ROW)


def upsert_slots(agent, slots):
    """Create or update slots by key; returns (created, updated).

    In key order, as a batch of events creates them: two writers then never each
    hold a slot the other waits for.
    """
    slots = sorted(slots, key=lambda s: s.key)
    with db.atomic():
        types_before = evaluation.slot_types(agent)
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
        evaluation.after_retyping(agent, types_before)
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


def prepared(masker, events):
    """The events as they are stored, with their texts masked by `masker`
    (`privacy.masking`), and the (fingerprint, instant as text) of each
    (`ingest.rules.stored_forms`): the per-event work that needs no database,
    which an import does in its reader process (`importers.read_ahead`)."""
    events = masker.events(events)
    return events, stored_forms(events)


def ingest_events(agent, events, max_channels=None, described=(), import_job=None, forms=None):
    """Store a validated batch and bring the summaries of the dialogs it touches up to date.

    Returns (new, duplicates). Raises IngestError, writing nothing, when an event
    names a stored dialog on a different channel, or a new channel beyond the
    agent's `max_channels` (checked first, every such event named). `described`
    is what an importer knows about the batch's slots (`describe_slots`). With the
    agent's `Mask personal data` on, texts are masked first (`privacy.masking`),
    unless `forms` are given: then the events and the described slots were
    `prepared` for this agent already, and `forms` are the events' stored forms.
    `import_job` (an id) marks the new events as that Admin → Import job's, for
    its removal (`importers.removal`). An event's instant is written as text,
    as the path rows' are (`_path_rows`).

    Dialogs the batch creates have all their events in it: their summaries are
    computed in Python and inserted with them (`ingest.summaries.summarize`).
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
    if forms is None:  # before anything is written or fingerprinted: events, and slot texts taken from them
        masker = Masker.of(agent)
        (events, forms), described = prepared(masker, events), masker.slots(described)
    with db.atomic():
        _ensure_channels(agent, events, max_channels)
        types_before = evaluation.slot_types(agent) if described else None
        describe_slots(agent, described)
        slot_ids = _ensure_slots(agent, {e.slot for e in events if e.slot})
        dialog_ids, batch, created = _ensure_dialogs(agent, events, forms, slot_ids)
        stored = {dialog_ids[ext]: batch[ext] for ext in batch if ext not in created}
        was = _appended_to(stored)
        repeats = len(events) > sum(map(len, batch.values()))  # an event the batch holds twice
        new = _insert_events(events, forms, dialog_ids, slot_ids, import_job, {dialog_ids[ext] for ext in created}, repeats)
        refreshed = sorted(pk for pk in stored if pk not in was)
        before = daily_totals.contributions(refreshed)
        for part in chunks(refreshed):
            paths.refresh_dialog_summaries(part)
            paths.refresh_paths(part)
        after = daily_totals.contributions(refreshed)
        _insert_paths(agent, {dialog_ids[ext]: summary for ext, summary in created.items()}, after)
        _extend_paths(agent, {pk: (old, extend(old, stored[pk], slot_ids)) for pk, old in was.items()}, before, after)
        daily_totals.apply_change(before, after)
        traffic.count(agent, new, import_job)
        _forget_late_texts(sorted(stored))
        give_outcomes(agent, dialog_ids.values())
        if described:
            evaluation.after_retyping(agent, types_before)
    return new, len(events) - new


def _insert_events(events, forms, dialog_ids, slot_ids, import_job, created, repeats):
    """Insert the batch's events, each once, in arrival order per dialog; returns how
    many were new. A dialog this batch `created` (row ids) holds no stored event (no
    other transaction sees it yet), so its events are appended (COPY on PostgreSQL,
    several times faster than INSERT … ON CONFLICT), leaving out the batch's own
    repeats when it has `repeats`; the others skip what their dialog already holds."""
    rows = [
        (dialog_ids[e.dialog_id], e.sender, slot_ids.get(e.slot), e.text, instant, fingerprint, import_job)
        for e, (fingerprint, instant) in zip(events, forms)
    ]
    appended = [row for row in rows if row[0] in created]  # row[0]: the dialog's row id
    if repeats:
        first_of = {}  # (dialog, fingerprint) -> its first row
        for row in appended:
            dialog, *_, fingerprint, _ = row
            first_of.setdefault((dialog, fingerprint), row)
        appended = list(first_of.values())
    inserted = [row for row in rows if row[0] not in created]
    return append_rows(EVENT_ROW, appended) + insert_rows(NEW_EVENTS, inserted)


def give_outcomes(agent, dialog_ids):
    """The outcome the agent's rules give each touched dialog, from its rows as now
    written. The rules are read under the shared outcomes lock, after the dialogs'
    locks: saving new rules waits for this batch (`outcomes.recompute`)."""
    hold_lock("outcomes", agent.id, shared=True)
    rules = evaluation.stored_rules(agent.id)
    if rules:
        evaluation.apply(agent.id, rules, dialog_ids)


def _forget_late_texts(dialog_ids):
    """A dialog whose texts were removed (TRANSCRIPT_DAYS) keeps none: the texts of
    events that come for it later are removed in the same transaction."""
    removed = Dialog.select(Dialog.id).where(among(Dialog.id, dialog_ids) & Dialog.texts_removed.is_null(False))
    gone = [pk for (pk,) in removed.tuples()]  # mostly none: then no UPDATE at all
    if gone:
        Event.update(text=REMOVED).where(among(Event.dialog, gone) & (Event.text != REMOVED)).execute()


def _appended_to(stored):
    """The stored summaries of the dialogs (id -> the batch's events for it) whose
    new events all come after their stored ones: their paths only go on. Each
    summary carries the ids of its rows (`StoredSummary`).

    A dialog's slot and step rows are read only when its new events change them:
    when one names a slot, or when the dialog becomes counted (every row copies
    the flag). Live traffic's user turns do neither; their dialogs' summaries
    carry no rows, and none of them changes."""
    was = {}
    dialog_row = Dialog.select(Dialog.id, Dialog.channel, Dialog.started_at, Dialog.last_event_at, Dialog.is_counted, Dialog.stop_slot)
    for part in chunks(sorted(stored), 5000):
        appended, moving = {}, []
        for pk, channel, started_at, last_event_at, is_counted, stop_slot in db.execute(dialog_row.where(among(Dialog.id, part))):
            events, last_event_at = stored[pk], _instant(last_event_at)
            if last_event_at is None or min(e.timestamp for e in events) <= last_event_at:
                continue  # no events yet to go on from, or new ones among them: recomputed in SQL
            appended[pk] = (channel, _instant(started_at), last_event_at, bool(is_counted), stop_slot)
            if any(e.slot for e in events) or (not is_counted and any(e.sender == "user" for e in events)):
                moving.append(pk)
        reached, slot_row_ids, steps, step_row_ids = _stored_path_rows(moving)
        was.update((pk, StoredSummary(*fields, reached[pk], steps[pk], slot_row_ids[pk], step_row_ids[pk]))
                   for pk, fields in appended.items())
    return was


@dataclass(frozen=True)
class StoredSummary(Summary):
    """A `Summary` read from a dialog's rows, with their ids (slot or step -> row id)."""

    slot_row_ids: dict = None
    step_row_ids: dict = None


def _stored_path_rows(dialog_ids):
    """(reached, slot row ids, steps, step row ids) of these dialogs, each a dialog id ->
    dict, read as raw tuples: peewee's row conversion costs more here than the queries."""
    reached, slot_row_ids, steps, step_row_ids = defaultdict(Counter), defaultdict(dict), defaultdict(Counter), defaultdict(dict)
    if not dialog_ids:
        return reached, slot_row_ids, steps, step_row_ids
    slots = DialogSlot.select(DialogSlot.id, DialogSlot.dialog, DialogSlot.slot, DialogSlot.times_shown)
    for row_id, pk, slot, times in db.execute(slots.where(among(DialogSlot.dialog, dialog_ids))).fetchall():
        reached[pk][slot] = times
        slot_row_ids[pk][slot] = row_id
    paths = DialogStep.select(DialogStep.id, DialogStep.dialog, DialogStep.from_slot, DialogStep.to_slot, DialogStep.transitions)
    for row_id, pk, from_slot, to_slot, transitions in db.execute(paths.where(among(DialogStep.dialog, dialog_ids))).fetchall():
        steps[pk][from_slot, to_slot] = transitions
        step_row_ids[pk][from_slot, to_slot] = row_id
    return reached, slot_row_ids, steps, step_row_ids


def _instant(value):
    """A datetime column read raw: SQLite hands it back as text."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _path_rows(agent, dialog_id, summary, slots, steps):
    """The slot and step rows of a summarised dialog, for the given slots and steps.

    Instants go as text (`str()`, the form both backends read): the SQLite
    driver's datetime adapter is a Python call for every value of every row."""
    copied = (summary.is_counted, str(summary.started_at), summary.channel)
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
    append_rows(paths.SLOT_ROW, slot_rows)
    append_rows(paths.STEP_ROW, step_rows)


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
    update_rows(SUMMARY_UPDATE, [(new.is_counted, new.stop_slot, new.last_event_at, pk) for pk, (_, new) in sorted(changes.items())])
    update_rows(TIMES_SHOWN_UPDATE, slot_updates)
    update_rows(TRANSITIONS_UPDATE, step_updates)
    append_rows(paths.SLOT_ROW, slot_rows)
    append_rows(paths.STEP_ROW, step_rows)


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
    """external id -> (row id, channel) of the stored dialogs among `external_ids`,
    read as raw tuples (live traffic reads a thousand a batch)."""
    stored = {}
    for part in chunks(external_ids, 5000):
        query = Dialog.select(Dialog.external_id, Dialog.id, Dialog.channel).where(
            (Dialog.agent == agent.id) & among(Dialog.external_id, part)
        )
        stored.update((ext, (pk, channel)) for ext, pk, channel in db.execute(query).fetchall())
    return stored


def lock_dialogs(dialog_ids):
    """Hold these dialogs until the transaction ends, taking the locks in id order.

    SQLite needs nothing: `BEGIN IMMEDIATE` already serialises its writers.
    """
    if not db.for_update:
        return
    for part in chunks(sorted(dialog_ids)):
        list(Dialog.select(Dialog.id).where(among(Dialog.id, part)).order_by(Dialog.id).for_update().tuples())


def _ensure_dialogs(agent, events, forms, slot_ids):
    """Map dialog ids to row ids, creating new dialogs with their summaries and
    locking all of them; returns (ids, batch, created): `batch` maps each dialog to
    its events in the batch (each once, in arrival order), `created` the dialogs
    this batch created to their `Summary`.

    A dialog never changes channel, not even when another batch created it a
    moment ago on a different one (on PostgreSQL; that dialog is then not ours).
    """
    firsts = {}  # dialog -> fingerprint -> the first event with it, in arrival order
    for e, (fingerprint, _) in zip(events, forms):
        firsts.setdefault(e.dialog_id, {}).setdefault(fingerprint, e)
    batch = {ext: list(kept.values()) for ext, kept in firsts.items()}
    external_ids = sorted(batch)
    existing = _stored_dialogs(agent, external_ids)
    summaries = {ext: summarize(batch[ext], slot_ids) for ext in external_ids if ext not in existing}
    new_rows = [
        (agent.id, ext, s.channel, s.started_at, s.last_event_at, s.is_counted, s.stop_slot) for ext, s in summaries.items()
    ]
    inserted = dict(insert_rows_returning(NEW_DIALOGS, new_rows))
    fresh = {ext: (pk, summaries[ext].channel) for ext, pk in inserted.items()}
    fresh.update(_stored_dialogs(agent, [ext for ext in summaries if ext not in inserted]))  # another batch's of a moment ago
    stored = {**existing, **fresh}
    lock_dialogs(pk for pk, _ in stored.values())
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
