"""Rasa's conversations as Slotlens events (SPEC: "Importing from where the
conversations already are"), from tracker JSON files or Rasa's SQL tracker store.

A dialog is one session of a sender: the first is `<sender_id>`, and each
`session_started` after events that became ours begins `<sender_id>#2`, `#3`, …
Sessions are mapped in Rasa's own order (list order, or row id), which is the
order Rasa applied the events; their timestamps may disagree with it.
"""
import json
import math
import os
from datetime import datetime, timezone

from importers import ImportFailed, Item
from ingest.rules import SlotIn

BOOKKEEPING = {"action_listen", "action_session_start", "action_restart"}
# Rasa's other event types: nothing in them says where a dialog went.
IGNORED_TYPES = {
    "slot", "reset_slots", "reminder", "cancel_reminder", "rewind", "undo", "restart", "followup", "pause", "resume",
    "agent", "export", "action_execution_rejected", "active_loop", "form", "loop_interrupted", "form_validation",
    "user_featurization", "entities", "stack", "routing_session_ended", "flow_started", "flow_interrupted",
    "flow_resumed", "flow_completed", "flow_cancelled", "dialogue_stack_updated",
}
DEFAULT_CHANNEL = "rasa"


def slot_for_action(name):
    """A slot named for a Rasa action; its text comes from the stored bot events in it."""
    return SlotIn(name, name, "utter" if name.startswith("utter_") else "action", "")


def map_sender(sender_id, events, catalogue):
    """Items for a sender's events, given in Rasa's order as (where, event, emit).

    Only events with `emit` set become Items (an incremental import reads a
    sender's earlier events too, for the session count and the last action).
    `catalogue` (slot key -> SlotIn) learns every action, and the type it gives the slot.

    A session's channel is decided by its first user event (its `input_channel`,
    else `rasa`), or as `rasa` when the session ends without one. Its events wait
    for that decision, so a session still open without a user event is held back,
    and an import that ends mid-session stores nothing it would store otherwise:
    the next one, finding the session it held back still undecided where its new
    events begin, emits the session's earlier events too. Whatever the runs, a
    session comes out as one run over all its events would store it.
    """
    session = _Session(sender_id, 1)
    reached_new = False
    for where, event, emit in events:
        if emit and not reached_new:
            reached_new = True
            session.held_back = session.channel is None
        if not isinstance(event, dict):
            reason = "is not a JSON object"
        else:
            kind = event.get("event")
            reason = None
            if not isinstance(kind, str):
                reason = "has no `event` field" if kind is None else "`event` is not a string"
            elif kind == "session_started":
                if session.used:
                    yield from session.end()
                    session = _Session(sender_id, session.number + 1)
            elif kind in ("user", "bot", "action"):
                mapped = _map(kind, event, session, catalogue)
                if isinstance(mapped, str):
                    reason = mapped
                elif mapped is not None:
                    session.pending.append((where, mapped, emit))
                    yield from session.ready()
            elif kind not in IGNORED_TYPES:
                reason = f"unknown Rasa event type {kind!r}"
        if reason and emit:
            yield Item(where, None, reason)


class _Session:
    def __init__(self, sender_id, number):
        self.dialog_id = sender_id if number == 1 else f"{sender_id}#{number}"
        self.number = number
        self.used = False  # has an event that became ours
        self.channel = None  # until its first user event decides it
        self.held_back = False  # an earlier import held back its events before this one's
        self.last_action = None
        self.pending = []  # (where, payload without channel, emit) until the channel is decided

    def ready(self):
        """Items for the pending payloads, once the channel is decided."""
        if self.channel is None:
            return
        for where, mapped, emit in self.pending:
            if emit or self.held_back:
                yield Item(where, {**mapped, "channel": self.channel})
        self.pending.clear()

    def end(self):
        self.channel = self.channel or DEFAULT_CHANNEL
        yield from self.ready()


def _map(kind, event, session, catalogue):
    """The payload (without channel) for a user, bot or action event; None for a
    bookkeeping action; a string saying why when it cannot be mapped."""
    name = event.get("name")
    if kind == "action" and isinstance(name, str) and name in BOOKKEEPING:
        return None
    timestamp = _utc_iso(event.get("timestamp"))
    if timestamp is None:
        return "timestamp must be Unix seconds"
    payload = {"dialog_id": session.dialog_id, "timestamp": timestamp}
    if kind == "user":
        channel = event.get("input_channel")
        if not isinstance(channel, (str, type(None))):
            return "`input_channel` is not a string"
        if session.channel is None:
            session.channel = channel or DEFAULT_CHANNEL
        payload.update(sender="user", text=event.get("text"))
    elif kind == "bot":
        metadata = event.get("metadata") or {}
        if not isinstance(metadata, dict):
            return "`metadata` is not a JSON object"
        utter_action = metadata.get("utter_action")
        if not isinstance(utter_action, (str, type(None))):
            return "`metadata.utter_action` is not a string"
        slot = utter_action or session.last_action
        if slot:
            catalogue.setdefault(slot, slot_for_action(slot))
        payload.update(sender="bot", slot=slot, text=event.get("text"))
    else:
        if not isinstance(name, str) or not name:
            return "action event without a `name`"
        session.last_action = name
        catalogue.setdefault(name, slot_for_action(name))
        payload.update(sender="system", slot=name)
    session.used = True
    return {key: value for key, value in payload.items() if value is not None}


def _utc_iso(seconds):
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return None
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


class TrackerFiles:
    """Tracker JSON files, as Rasa's `GET /conversations/<sender_id>/tracker` returns
    them: one file, or every `*.json` in a folder. Progress in bytes."""

    unit = "events"

    def __init__(self, path, shown_as=None):
        self.shown_as = shown_as  # the name to use in messages, for an upload stored under another
        if os.path.isdir(path):
            self.files = sorted(os.path.join(path, name) for name in os.listdir(path) if name.endswith(".json"))
            if not self.files:
                raise ImportFailed(f"{path} has no .json files (tracker files from GET /conversations/<sender_id>/tracker).")
        elif os.path.isfile(path):
            self.files = [path]
        else:
            raise ImportFailed(f"{path} is neither a tracker file nor a folder of them.")
        self.total = sum(os.path.getsize(name) for name in self.files)
        self.done = 0
        self.slot_catalogue = {}
        self.unread = []  # the files that could not be read as trackers: the import is incomplete

    def __iter__(self):
        for path in self.files:
            yield from self._items(path)
            self.done += os.path.getsize(path)

    def _items(self, path):
        name = self.shown_as or os.path.basename(path)
        tracker = _read_tracker(path)
        if isinstance(tracker, str):
            self.unread.append(name)
            yield Item(name, None, tracker)
            return
        events = ((f"{name} event {n}", event, True) for n, event in enumerate(tracker["events"], start=1))
        yield from map_sender(tracker["sender_id"], events, self.slot_catalogue)


def _read_tracker(path):
    """The tracker in the file at `path`, or why it cannot be read as one."""
    try:
        with open(path, "rb") as f:
            tracker = json.loads(f.read().decode("utf-8"))
    except OSError as exc:
        return f"could not be read ({exc.strerror})"
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); is the file complete?"
    except RecursionError:
        return "is nested too deeply to be a tracker"
    if not isinstance(tracker, dict) or not isinstance(tracker.get("events"), list):
        return "has no `events` list; is it a tracker from GET /conversations/<sender_id>/tracker?"
    if not isinstance(tracker.get("sender_id"), str) or not tracker["sender_id"]:
        return "has no `sender_id`"
    return tracker
