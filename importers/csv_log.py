"""Logs exported from any platform as CSV, mapped onto events column by column
(`--map dialog_id=COL,timestamp=COL,sender=COL[,channel=COL][,slot=COL][,text=COL]`).

The delimiter is the one of `, ; TAB |` the header line has most of, and UTF-8 with or without a BOM is read. Timestamps are
ISO 8601 or Unix seconds; those without an offset are read in `--timezone`.
"""
import csv
import io
import os
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from importers import ImportFailed, Item
from ingest.rules import SENDERS

FIELDS = ("dialog_id", "timestamp", "sender", "channel", "slot", "text")
REQUIRED = ("dialog_id", "timestamp", "sender")
DEFAULT_CHANNEL = "csv"
DELIMITERS = ",;\t|"
SAMPLE_BYTES = 64 * 1024
UNIX_SECONDS = re.compile(r"[+-]?\d+(\.\d+)?")
NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode
csv.field_size_limit(10 * 1024 * 1024)  # a bot text may be long; the API's limit still applies after


def parse_mapping(text):
    """`dialog_id=COL,timestamp=COL,…` -> {field: column}; ValueError says what is wrong."""
    mapping = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        field, _, column = part.partition("=")
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


def parse_sender_values(text):
    """`user=client,bot=operator` -> {"client": "user", "operator": "bot"}."""
    values = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        sender, _, value = part.partition("=")
        if sender.strip() not in SENDERS or not value.strip():
            raise ValueError(f"--sender-values: {part!r} should be SENDER=VALUE with SENDER one of {', '.join(SENDERS)}")
        values[value.strip()] = sender.strip()
    return values


def parse_timezone(name):
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--timezone: {name!r} is not a time zone name like Europe/Berlin or UTC") from None


def read_timestamp(value, zone):
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
            raise ValueError(f"{value!r} has no UTC offset; say which time zone it is in with --timezone (e.g. --timezone Europe/Berlin)")
        parsed = parsed.replace(tzinfo=zone)
    return parsed.isoformat()


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

    def __init__(self, path, mapping, sender_values=None, zone=None):
        self.path, self.mapping, self.sender_values, self.zone = path, mapping, sender_values or {}, zone
        self.total = os.path.getsize(path)
        self.reader = None
        with open(path, "rb") as f:
            sample = f.read(SAMPLE_BYTES)
        self.encoding = "utf-8-sig" if sample.startswith(b"\xef\xbb\xbf") else "utf-8"
        text = sample.decode(self.encoding, errors="ignore")  # a cut character at the sample's end
        if not text.strip():
            raise ImportFailed("The file is empty.")
        first_line = text.split("\n", 1)[0]
        self.delimiter = max(DELIMITERS, key=first_line.count) if any(d in first_line for d in DELIMITERS) else ","
        self.header = next(csv.reader(io.StringIO(text), delimiter=self.delimiter))
        unknown = [f"{field}={column}" for field, column in mapping.items() if column not in self.header]
        if unknown:
            raise ImportFailed(f"--map names columns the file does not have ({', '.join(unknown)}); its columns are: {', '.join(self.header)}")

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
                        yield self._item(f"line {start}", row, columns)
            except csv.Error as exc:
                raise ImportFailed(f"line {line + 1} cannot be read as CSV ({exc})") from None

    def _item(self, where, row, columns):
        if any(NOT_UTF8.search(value) for value in row):
            return Item(where, None, "is not UTF-8 text; save the file as UTF-8 and import it again")
        if len(row) != len(self.header):
            return Item(where, None, f"has {len(row)} columns where the header has {len(self.header)}")
        values = {field: row[index] for field, index in columns.items()}
        sender = self.sender_values.get(values["sender"], values["sender"])
        if sender not in SENDERS:
            return Item(where, None, f"column {self.mapping['sender']!r}: {values['sender']!r} is not a sender; "
                                     "map it with --sender-values user=…,bot=…,system=…")
        try:
            timestamp = read_timestamp(values["timestamp"], self.zone)
        except ValueError as exc:
            return Item(where, None, f"column {self.mapping['timestamp']!r}: {exc}")
        payload = {"dialog_id": values["dialog_id"], "channel": values.get("channel") or DEFAULT_CHANNEL,
                   "sender": sender, "timestamp": timestamp}
        for optional in ("slot", "text"):
            if values.get(optional):
                payload[optional] = values[optional]
        return Item(where, payload)
