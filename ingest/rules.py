"""What may come in: the rules a batch of events or a slot list must follow.

Validation is pure (it only looks at the payload) so that the API, the
`import-events` command and the importers reject exactly the same things with
the same words, and the fast decoder (`ingest.decoding`) checks the same limits.

A name (agents, slots, channels, dialog ids, account emails) is one line of
text without control characters: names end up in CSV files, email headers,
stored lists and log lines, where a line break or another control character
would split, forge or break them. Texts (a bot's message) may be multi-line.

The messages are the API's, in English; marked (`N_`, `StoredText`) so that the
admin's slot catalogue can say them in its reader's language (`blueprints.catalogue`).
"""
import hashlib
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import msgspec

from languages.stored import N_, StoredText

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


class EventIn(msgspec.Struct, frozen=True, gc=False):
    """A valid event. A struct: one is made for every event read, in a twentieth of
    a frozen dataclass's time; it holds no container, so the garbage collector
    need not track it."""

    dialog_id: str
    channel: str
    sender: str
    slot: str | None
    text: str | None
    timestamp: datetime  # naive UTC

    @property
    def fingerprint(self):
        """A 64-bit digest of what makes this event itself within its dialog."""
        return _digest(self, self.timestamp.isoformat())


def stored_forms(events):
    """Each event's (fingerprint, instant as the text it is stored as), one
    isoformat serving both: `str()` of a datetime is its isoformat with a space."""
    forms = []
    for e in events:
        iso = e.timestamp.isoformat()
        forms.append((_digest(e, iso), iso[:10] + " " + iso[11:]))
    return forms


def _digest(event, iso_timestamp):
    """The fingerprint of `event`, its instant given as isoformat: stored fingerprints were made so, and must match."""
    parts = (event.sender, event.slot or "", "\0" if event.text is None else event.text, iso_timestamp)
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
    return N_("must not contain NUL characters") if found.group() == "\x00" else N_("must be valid Unicode (it has a lone surrogate)")


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CONTROL_MESSAGE = N_("must not contain control characters (line breaks, tabs and the like)")
AT_MOST = StoredText(N_("must be at most %(max)s characters"))
TWICE = StoredText(N_("slot “%(key)s” appears twice in this list"))
FIELD_MESSAGES = (AT_MOST, TWICE)  # the templates of the messages of one field; the others are messages as they are


def has_control(text):
    return CONTROL.search(text) is not None


def _check_fields(index, item, spec, limits):
    """Type, presence, length and unknown-field checks shared by events and slots."""
    if not isinstance(item, dict):
        return [error(index, None, N_("must be a JSON object"))]
    errors = [error(index, name, N_("unknown field")) for name in item if name not in spec]
    for name, (required, limit) in spec.items():
        value = item.get(name)
        max_length = getattr(limits, limit)
        if value is None:
            if required:
                errors.append(error(index, name, N_("is required")))
        elif not isinstance(value, str):
            errors.append(error(index, name, N_("must be a string")))
        elif required and not value.strip():
            errors.append(error(index, name, N_("must not be empty")))
        elif len(value) > max_length:
            errors.append(error(index, name, AT_MOST.english(max=max_length)))
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
            item_errors.append(error(index, "key", TWICE.english(key=item["key"])))
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
