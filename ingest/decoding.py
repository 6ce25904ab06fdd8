"""The fast path in: a JSON batch of events decoded and checked in one pass.

`msgspec` decodes the bytes straight into typed structs in C, rejecting wrong
types, unknown fields and bad senders on the way; what it cannot check (lengths,
blank or unstorable text, control characters, timestamps, duplicate keys) is
checked over whole columns at once. Anything unusual answers None, and the
careful path (`json` + `ingest.rules.validate_events`) then takes the same bytes
and says exactly what is wrong where, so both paths accept exactly the same
batches and every error message comes from one place. The importers' payloads
(dicts) take the same way, through `msgspec.convert` instead of the decoder.
"""
import re
from datetime import datetime, timezone
from operator import attrgetter
from typing import Literal

import msgspec

from ingest.rules import CONTROL, EARLIEST, LATEST, UNSTORABLE, EventIn


class EventStruct(msgspec.Struct, forbid_unknown_fields=True):
    dialog_id: str
    channel: str
    sender: Literal["user", "bot", "system"]
    timestamp: str
    slot: str | None | msgspec.UnsetType = msgspec.UNSET
    text: str | None | msgspec.UnsetType = msgspec.UNSET


BATCH = msgspec.json.Decoder(list[EventStruct])
REQUIRED = ("dialog_id", "channel", "sender", "timestamp")
OPTIONAL = ("slot", "text")
# A key spelled with a \u escape: a duplicate written that way would not be counted.
ESCAPED_KEY = re.compile(rb'\\u[0-9a-fA-F]{4}(?:[A-Za-z_]|\\u[0-9a-fA-F]{4})*"\s*:')
EARLIEST_UTC, LATEST_UTC = EARLIEST.replace(tzinfo=timezone.utc), LATEST.replace(tzinfo=timezone.utc)


def decode_batch(raw, limits):
    """The events of a JSON list (bytes) if every one is valid, else None."""
    structs = _decode(raw)
    if structs is None or len(structs) > limits.batch:
        return None
    return checked(structs, limits)


def decode_lines(lines, limits):
    """The events of JSON Lines (non-blank lines, bytes) if each line is one valid event, else None.

    Fields are strings, so an object cannot nest another: a line that starts with
    `{` and ends with `}` holds whole objects, and as many objects as lines means
    one per line (two lines cannot make one object, nor one line two).
    """
    if not all(line.lstrip()[:1] == b"{" and line.rstrip()[-1:] == b"}" for line in lines):
        return None
    structs = _decode(b"[" + b",".join(lines) + b"]")
    if structs is None or len(structs) != len(lines):
        return None
    return checked(structs, limits)


def decode_items(payloads, limits):
    """The events of payloads an importer built (dicts, as a JSON object would
    decode) if every one is valid, else None: the same checks, without the JSON."""
    try:
        structs = msgspec.convert(payloads, list[EventStruct])
    except msgspec.ValidationError:
        return None
    return checked(structs, limits)


def _decode(raw):
    """Structs for a JSON list of events, or None where the careful path must look."""
    try:
        structs = BATCH.decode(raw)
    except (msgspec.MsgspecError, UnicodeDecodeError):  # msgspec raises the latter for bad bytes in a string
        return None
    return None if _may_repeat_keys(raw, structs) else structs


def _may_repeat_keys(raw, structs):
    """True unless no object can hold a key twice: msgspec keeps the last of a
    repeated key, where the careful path rejects the batch.

    Without a backslash in the bytes every `"` opens or closes a key or a string
    value, and the structs say how many of each there are: a repeated key brings
    more (msgspec type-checks every copy of a key, so an earlier copy's value too is
    a string or null). Otherwise every key present is one `"name"` in the bytes; more of them
    (a repeat, or a value spelled like a key) send the batch down the careful path."""
    present = dict.fromkeys(REQUIRED, len(structs))
    strings = len(structs) * len(REQUIRED)
    for name in OPTIONAL:
        values = list(map(attrgetter(name), structs))
        present[name] = len(structs) - values.count(msgspec.UNSET)
        strings += present[name] - values.count(None)
    if b"\\" not in raw:
        return raw.count(b'"') != 2 * (sum(present.values()) + strings)
    if b"\\u" in raw and ESCAPED_KEY.search(raw):
        return True
    return any(raw.count(b'"%s"' % name.encode()) != count for name, count in present.items())


def checked(structs, limits):
    """EventIns for structs msgspec accepted, or None if any breaks a rule msgspec does not know."""
    dialog_ids = [s.dialog_id for s in structs]
    channels = [s.channel for s in structs]
    stamps = [s.timestamp for s in structs]
    slots = [s.slot or None for s in structs]  # UNSET, null and "" all mean no slot
    texts = [None if s.text is msgspec.UNSET else s.text for s in structs]
    named = [slot for slot in slots if slot is not None]
    said = [text for text in texts if text]
    if not (all(map(str.strip, dialog_ids)) and all(map(str.strip, channels)) and all(map(str.strip, stamps))):
        return None
    if structs and max(map(len, dialog_ids + channels + stamps + named)) > limits.name:
        return None
    if said and max(map(len, said)) > limits.text:
        return None
    if not _storable("".join(dialog_ids + channels + stamps + named), "".join(said)):
        return None
    instants = _utc_instants(stamps)
    if instants is None:
        return None
    return [
        EventIn(dialog_id, channel, s.sender, slot, text, instant)
        for dialog_id, channel, s, slot, text, instant in zip(dialog_ids, channels, structs, slots, texts, instants)
    ]


def _storable(names, texts):
    """True when the names hold no control character, NUL or lone surrogate, nor the
    texts a NUL or a lone surrogate. ASCII is judged by str methods in C (printable
    ASCII is exactly what CONTROL leaves), faster than the regular expressions."""
    if names.isascii():
        names_clean = names.isprintable()
    else:
        names_clean = not (CONTROL.search(names) or UNSTORABLE.search(names))
    return names_clean and ("\x00" not in texts if texts.isascii() else not UNSTORABLE.search(texts))


def _utc_instants(stamps):
    """Naive UTC datetimes for ISO 8601 stamps with an offset in range, or None."""
    try:
        parsed = list(map(datetime.fromisoformat, stamps))
    except ValueError:
        return None
    if any(p.tzinfo is None for p in parsed):
        return None
    try:
        if parsed and not (EARLIEST_UTC <= min(parsed) and max(parsed) < LATEST_UTC):
            return None
        in_utc = (p if p.tzinfo is timezone.utc else p.astimezone(timezone.utc) for p in parsed)
        return [datetime.combine(p.date(), p.time()) for p in in_utc]  # naive: in a quarter of replace(tzinfo=None)'s time
    except OverflowError:  # an offset that pushes a stamp past year 1 or 9999
        return None
