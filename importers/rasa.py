"""Rasa's conversations as Slotlens events (SPEC: "Importing from where the
conversations already are"), from tracker JSON files or Rasa's SQL tracker store.

A dialog is one session of a sender: the first is `<sender_id>`, and each
`session_started` after events that became ours begins `<sender_id>#2`, `#3`, …
Sessions are mapped in Rasa's own order (list order, or row id), which is the
order Rasa applied the events; their timestamps may disagree with it.
"""
import math
import os
import pickle
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import accumulate, repeat
from operator import itemgetter

import ijson

from importers import EVENT, ImportFailed, Item
from ingest.rules import SlotIn
from languages.stored import N_, StoredText

BOOKKEEPING = {"action_listen", "action_session_start", "action_restart"}
# Rasa's other event types: nothing in them says where a dialog went.
IGNORED_TYPES = {
    "slot", "reset_slots", "reminder", "cancel_reminder", "rewind", "undo", "restart", "followup", "pause", "resume",
    "agent", "export", "action_execution_rejected", "active_loop", "form", "loop_interrupted", "form_validation",
    "user_featurization", "entities", "stack", "routing_session_ended", "flow_started", "flow_interrupted",
    "flow_resumed", "flow_completed", "flow_cancelled", "dialogue_stack_updated",
}
DEFAULT_CHANNEL = "rasa"
NO_TRACKER_FILES = StoredText(N_("%(path)s has no .json files (tracker files from GET /conversations/<sender_id>/tracker)."))
NOT_A_TRACKER = StoredText(N_("%(path)s is neither a tracker file nor a folder of them."))
WAITING_IN_MEMORY = 1000  # a session's events waiting for its channel, kept in memory before a temporary file
STREAM = ijson.get_backend("yajl2_c")  # ijson's C parser: the pure Python one is ten times slower
CHUNK = 64 * 1024  # bytes of a tracker file read at a time
# json.loads stopped near 1,000 levels (Python's recursion limit); no Rasa event nests
# more than a dozen, and yajl has no limit of its own.
MAX_DEPTH = 500
DEPTH_CHANGE = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}  # of a parser's token


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
    try:
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
    finally:
        session.pending.discard()  # a session still held back leaves no temporary file


class _Session:
    def __init__(self, sender_id, number):
        self.dialog_id = sender_id if number == 1 else f"{sender_id}#{number}"
        self.number = number
        self.used = False  # has an event that became ours
        self.channel = None  # until its first user event decides it
        self.held_back = False  # an earlier import held back its events before this one's
        self.last_action = None
        self.pending = _Waiting()  # (where, payload without channel, emit) until the channel is decided

    def ready(self):
        """Items for the pending payloads, once the channel is decided."""
        if self.channel is None:
            return
        for where, mapped, emit in self.pending.drain():
            if emit or self.held_back:
                yield Item(where, {**mapped, "channel": self.channel})

    def end(self):
        self.channel = self.channel or DEFAULT_CHANNEL
        yield from self.ready()


class _Waiting:
    """A session's events waiting for its channel, in order: the last WAITING_IN_MEMORY
    at most in memory, the ones before in a temporary file, so that a session of a
    million bot events before its first user event keeps memory flat."""

    def __init__(self):
        self.recent = []
        self.spilled = None  # the temporary file, of pickled lists of WAITING_IN_MEMORY entries

    def append(self, entry):
        self.recent.append(entry)
        if len(self.recent) == WAITING_IN_MEMORY:
            if self.spilled is None:
                self.spilled = tempfile.TemporaryFile()
            pickle.dump(self.recent, self.spilled)
            self.recent = []

    def drain(self):
        """The entries, in order, leaving none."""
        if self.spilled is not None:
            with self.spilled as spilled:
                end = spilled.tell()
                spilled.seek(0)
                while spilled.tell() < end:
                    yield from pickle.load(spilled)
            self.spilled = None
        recent, self.recent = self.recent, []
        yield from recent

    def discard(self):
        if self.spilled is not None:
            self.spilled.close()
        self.spilled, self.recent = None, []


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
    them: one file, or every `*.json` in a folder. Progress in bytes.

    A file is read twice, an event at a time, so memory stays flat however many
    events it holds: first to check it is a whole tracker and find its `sender_id`
    (which may follow the events), so a truncated file imports nothing; then to map
    its events."""

    unit = "events"

    def __init__(self, path, shown_as=None):
        self.shown_as = shown_as  # the name to use in messages, for an upload stored under another
        if os.path.isdir(path):
            self.files = sorted(os.path.join(path, name) for name in os.listdir(path) if name.endswith(".json"))
            if not self.files:
                raise ImportFailed(NO_TRACKER_FILES.english(path=path))
        elif os.path.isfile(path):
            self.files = [path]
        else:
            raise ImportFailed(NOT_A_TRACKER.english(path=path))
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
        sender_id = _read_tracker(path)
        if sender_id.reason:
            self.unread.append(name)
            yield Item(name, None, sender_id.reason)
            return
        try:
            with open(path, "rb") as f:
                events = ((EVENT.english(file=name, number=n), event, True)
                          for n, event in enumerate(STREAM.items(f, "events.item", use_float=True), start=1))
                yield from map_sender(sender_id.value, events, self.slot_catalogue)
            return
        except OSError as exc:
            reason = f"could not be read ({exc.strerror})"
        except (ijson.JSONError, UnicodeDecodeError):
            reason = "changed while it was being imported; import it again"
        self.unread.append(name)
        yield Item(name, None, reason)


@dataclass(frozen=True)
class SenderId:
    """A tracker's `sender_id`, or why the file cannot be read as a tracker."""

    value: str | None = None
    reason: str | None = None


def _read_tracker(path):
    """The `sender_id` of the tracker in the file at `path`, reading all of it as
    JSON a chunk at a time (never the whole file at once)."""
    tokens = ijson.sendable_list()
    parser = STREAM.basic_parse_coro(tokens, use_float=True)
    shape = _TrackerShape()
    offset = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                parser.send(chunk)
                if not shape.take(tokens):
                    return SenderId(reason="is nested too deeply to be a tracker")
                tokens.clear()
                offset += len(chunk)
            parser.close()
            shape.take(tokens)
    except OSError as exc:
        return SenderId(reason=f"could not be read ({exc.strerror})")
    except UnicodeDecodeError:
        return SenderId(reason="is not UTF-8 text")
    except ijson.JSONError as exc:
        problem = _yajl_problem(exc)
        if problem == "invalid bytes in UTF8 string":
            return SenderId(reason="is not UTF-8 text")
        line, column = _refused_at(path, offset)
        return SenderId(reason=f"is not valid JSON (line {line}, column {column}: {problem}); is the file complete?")
    if not shape.is_map or shape.events[-1:] != ["start_array"]:
        return SenderId(reason="has no `events` list; is it a tracker from GET /conversations/<sender_id>/tracker?")
    if len(shape.events) > 1:
        return SenderId(reason="has more than one `events` field")
    if not isinstance(shape.sender_id, str) or not shape.sender_id:
        return SenderId(reason="has no `sender_id`")
    return SenderId(shape.sender_id)


class _TrackerShape:
    """What the first reading learns of a tracker's top level from the parser's tokens.

    The tokens are measured in bulk (their depths by `accumulate`, the tracker's own
    fields found by `list.index`): with Python statements per token this reading took
    2.6 times as long as the parser's tokenizing alone; in bulk, 1.6 times."""

    def __init__(self):
        self.depth = 0
        self.is_map = None
        self.key = None  # the tracker's field being read
        self.events = []  # the token that began each `events` value: a list's is "start_array"
        self.sender_id = None

    def take(self, tokens):
        """Learn from (event, value) tokens; False if they nest deeper than MAX_DEPTH."""
        if not tokens:
            return True
        depths = list(accumulate(map(DEPTH_CHANGE.get, map(itemgetter(0), tokens), repeat(0)), initial=self.depth))
        if max(depths) > MAX_DEPTH:
            return False
        if self.is_map is None:
            self.is_map = tokens[0][0] == "start_map"
        at = 0
        while self.is_map:  # the tokens at depth 1 are the tracker's fields and their values
            try:
                at = depths.index(1, at, len(tokens))
            except ValueError:
                break
            event, value = tokens[at]
            if event == "map_key":
                self.key = value
            elif self.key == "events" and event != "end_map":
                self.events.append(event)
            elif self.key == "sender_id" and event != "end_map":
                self.sender_id = value if event == "string" else None
            at += 1
        self.depth = depths[-1]
        return True


def _refused_at(path, chunk_start):
    """(line, column) of the first byte the parser refuses, counted as `json` counts
    them (from 1; columns in characters), given that it lies in the chunk read from
    `chunk_start` or is the end (a file that ends too soon): the file is parsed
    again up to that chunk, and through it a byte at a time."""
    tokens = ijson.sendable_list()
    parser = STREAM.basic_parse_coro(tokens)
    line, column = 1, 1
    with open(path, "rb") as f:
        for piece in _pieces(f, chunk_start):
            try:
                parser.send(piece)
            except ijson.JSONError:
                break
            tokens.clear()
            line, column = _advance(line, column, piece)
    return line, column


def _pieces(f, chunk_start):
    while f.tell() < chunk_start:
        yield f.read(min(CHUNK, chunk_start - f.tell()))
    while byte := f.read(1):
        yield byte


CONTINUATION_BYTES = bytes(range(0x80, 0xC0))  # the bytes of UTF-8 that do not begin a character


def _advance(line, column, data):
    """The (line, column) after `data`, UTF-8 text that begins at (line, column)."""
    newlines = data.count(b"\n")
    if newlines:
        line, column = line + newlines, 1
        data = data[data.rfind(b"\n") + 1 :]
    return line, column + len(data.translate(None, CONTINUATION_BYTES))


def _yajl_problem(exc):
    """yajl's words for what it refused ("premature EOF"), without the excerpt of the
    file it quotes after them: that could be an end user's text."""
    first_line = re.split(r"\n|\\n", str(exc), maxsplit=1)[0].removeprefix("b'").removeprefix('b"')
    return first_line.split(" error: ", 1)[-1].rstrip(".")
