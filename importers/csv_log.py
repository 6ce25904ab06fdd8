"""Logs exported from any platform as CSV, mapped onto events column by column
(`--map dialog_id=COL,timestamp=COL,sender=COL[,channel=COL][,slot=COL][,text=COL]`).

The delimiter is the one of `, ; TAB |` the header line has most of, and UTF-8 with or without a BOM is read
(`read_header`; Admin → Import's script reads the header by the same rules to offer the columns). Timestamps are
ISO 8601 or Unix seconds; those without an offset are read in `--timezone`. A sender value mapped to `skip` has
its rows skipped, and counted as skipped.
"""
import csv
import io
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from importers import LINE, ImportFailed, Item
from ingest.rules import SENDERS
from languages.stored import N_, StoredText

FIELDS = ("dialog_id", "timestamp", "sender", "channel", "slot", "text")
REQUIRED = ("dialog_id", "timestamp", "sender")
DEFAULT_CHANNEL = "csv"
SKIP = "skip"  # a sender value whose rows are not events (e.g. a platform's own notices)
COLUMN_GUESSES = {  # field -> the header names (in any case) taken to mean it, for the form's first choice
    "dialog_id": ("dialog", "dialog_id", "conversation", "conversation_id", "session", "session_id"),
    "timestamp": ("time", "timestamp", "date", "when", "created_at", "sent_at"),
    "sender": ("who", "sender", "from", "author", "role"),
    "channel": ("channel", "source"),
    "slot": ("slot", "step", "intent", "action"),
    "text": ("text", "message", "body"),
}
SENDER_GUESSES = {  # sender -> the values (in any case) taken to mean it, for the form's first choice
    "user": ("user", "client", "customer", "visitor"),
    "bot": ("bot", "assistant", "agent", "operator"),
    "system": ("system",),
}
DELIMITERS = ",;\t|"
SAMPLE_BYTES = 64 * 1024
UNIX_SECONDS = re.compile(r"[+-]?\d+(\.\d+)?")
NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode
csv.field_size_limit(10 * 1024 * 1024)  # a bot text may be long; the API's limit still applies after


def parse_mapping(text):
    """`dialog_id=COL,timestamp=COL,…` -> {field: column}; ValueError says what is wrong."""
    mapping = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        field, _equals, column = part.partition("=")
        field, column = field.strip(), column.strip()
        if field not in FIELDS:
            raise ValueError(f"--map: unknown field {field!r}; the fields are {', '.join(FIELDS)}")
        if not column:
            raise ValueError(f"--map: {field}= needs a column name, e.g. {field}=conversation")
        mapping[field] = column
    missing = [field for field in REQUIRED if field not in mapping]
    if missing:
        raise ValueError(f"--map must name a column for {', '.join(missing)} (e.g. --map dialog_id=conversation,timestamp=time,sender=role)")
    return mapping


@dataclass(frozen=True)
class Wording:
    """How messages about a file name the settings that fix it: the command's options
    or the web form's fields (a browser never shows a command-line option). `columns`
    is a template of `unknown` and `columns`; the web form's is in the page's language
    (said as the file is uploaded; the reasons kept for later stay as written here)."""

    columns: str
    sender_values: str
    timezone: str


UNREADABLE_LINE = StoredText(N_("line %(line)s cannot be read as CSV (%(detail)s)"))  # detail: the csv module's own words

COMMAND_LINE = Wording(
    columns="--map names columns the file does not have (%(unknown)s); its columns are: %(columns)s",
    sender_values="map it with --sender-values user=…,bot=…,system=…",
    timezone="say which time zone it is in with --timezone (e.g. --timezone Europe/Berlin)",
)
WEB_FORM = Wording(
    columns=_l("The columns chosen are not all in the file (%(unknown)s); its columns are: %(columns)s"),
    sender_values="map it under Sender values",
    timezone="say which time zone it is in under Time zone",
)


def parse_sender_values(text):
    """`user=client,bot=operator,skip=notice` -> {"client": "user", "operator": "bot", "notice": "skip"}."""
    values = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        sender, _equals, value = part.partition("=")
        if sender.strip() not in (*SENDERS, SKIP) or not value.strip():
            raise ValueError("--sender-values: " + _("%(part)s should be SENDER=VALUE with SENDER one of %(senders)s",
                                                     part=repr(part), senders=", ".join((*SENDERS, SKIP))))
        values[value.strip()] = sender.strip()
    return values


def parse_timezone(name):
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("--timezone: " + _("%(name)s is not a time zone name like Europe/Berlin or UTC", name=repr(name))) from None


def read_timestamp(value, zone, wording=COMMAND_LINE):
    """ISO 8601 or Unix seconds -> ISO 8601 with an offset; ValueError with the reason."""
    value = value.strip()
    if UNIX_SECONDS.fullmatch(value):
        try:
            return datetime.fromtimestamp(float(value), timezone.utc).isoformat()
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is out of range for Unix seconds") from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither an ISO 8601 date and time nor Unix seconds") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise ValueError(f"{value!r} has no UTC offset; {wording.timezone}")
        parsed = parsed.replace(tzinfo=zone)
    return parsed.isoformat()


def read_header(sample):
    """(encoding, delimiter, columns) of a CSV file from its first bytes; ImportFailed if empty."""
    encoding = "utf-8-sig" if sample.startswith(b"\xef\xbb\xbf") else "utf-8"
    text = sample.decode(encoding, errors="ignore")  # a cut character at the sample's end
    if not text.strip():
        raise ImportFailed(_("The file is empty."))
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count) if any(d in first_line for d in DELIMITERS) else ","
    return encoding, delimiter, next(csv.reader(io.StringIO(text), delimiter=delimiter))


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it, for progress."""

    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n


class CsvLog:
    """The rows of a CSV file as events; progress in bytes."""

    unit = "lines"
    reads_ahead = True  # `importers.read_ahead`

    def __init__(self, path, mapping, sender_values=None, zone=None, wording=COMMAND_LINE):
        self.path, self.mapping, self.sender_values, self.zone = path, mapping, sender_values or {}, zone
        self.wording = wording
        self.total = os.path.getsize(path)
        self.reader = None
        with open(path, "rb") as f:
            self.encoding, self.delimiter, self.header = read_header(f.read(SAMPLE_BYTES))
        unknown = [f"{field}={column}" for field, column in mapping.items() if column not in self.header]
        if unknown:
            raise ImportFailed(str(wording.columns) % {"unknown": ", ".join(unknown), "columns": ", ".join(self.header)})

    @property
    def done(self):
        return self.reader.count if self.reader else 0

    def __iter__(self):
        with open(self.path, "rb", buffering=0) as raw:
            self.reader = CountingReader(raw)
            # surrogateescape: a byte that is not UTF-8 shows in its own row, which is then skipped
            text = io.TextIOWrapper(io.BufferedReader(self.reader), encoding=self.encoding, errors="surrogateescape", newline="")
            rows = csv.reader(text, delimiter=self.delimiter)
            columns = {field: self.header.index(column) for field, column in self.mapping.items()}
            line = 1
            try:
                next(rows)
                for row in rows:
                    start, line = line + 1, rows.line_num
                    if row:
                        yield self._item(LINE.english(line=start), row, columns)
            except csv.Error as exc:
                raise ImportFailed(UNREADABLE_LINE.english(line=line + 1, detail=exc)) from None

    def _item(self, where, row, columns):
        if any(NOT_UTF8.search(value) for value in row):
            return Item(where, None, "is not UTF-8 text; save the file as UTF-8 and import it again")
        if len(row) != len(self.header):
            return Item(where, None, f"has {len(row)} columns where the header has {len(self.header)}")
        values = {field: row[index] for field, index in columns.items()}
        sender = self.sender_values.get(values["sender"], values["sender"])
        if values["sender"] in self.sender_values and sender == SKIP:
            return Item(where, None, f"column {self.mapping['sender']!r}: {values['sender']!r} is a sender chosen to be skipped")
        if sender not in SENDERS:
            return Item(where, None, f"column {self.mapping['sender']!r}: {values['sender']!r} is not a sender; {self.wording.sender_values}")
        try:
            timestamp = read_timestamp(values["timestamp"], self.zone, self.wording)
        except ValueError as exc:
            return Item(where, None, f"column {self.mapping['timestamp']!r}: {exc}")
        payload = {"dialog_id": values["dialog_id"], "channel": values.get("channel") or DEFAULT_CHANNEL,
                   "sender": sender, "timestamp": timestamp}
        for optional in ("slot", "text"):
            if values.get(optional):
                payload[optional] = values[optional]
        return Item(where, payload)
