"""An import's source read in a second process (`importers.read_ahead`): what it
reads arrives in order and whole, what it raises is raised here, and neither
process outlives the other's failure."""
import multiprocessing
import multiprocessing.connection
import os
import signal
import struct
from types import SimpleNamespace

import pytest

import importers
from importers import ImportFailed, Item, read_ahead
from ingest import writer
from models import Agent, Event

BATCH = 5


class Lines:
    """A source that reads ahead: `count` events of dialogs of two events each,
    calling `on_item(number)` as each is read (in the reader process)."""

    unit = "lines"
    reads_ahead = True

    def __init__(self, count, on_item=lambda number: None):
        self.count, self.on_item, self.total, self.done = count, on_item, count, 0

    def __iter__(self):
        for number in range(1, self.count + 1):
            self.on_item(number)
            self.done = number
            payload = {"dialog_id": f"d{number // 2}", "channel": "web", "sender": "user",
                       "text": f"turn {number}", "timestamp": f"2026-03-01T10:00:{number % 60:02d}Z"}
            yield Item(f"line {number}", payload) if number % 7 else Item(f"line {number}", None, "made up to be refused")


def imported(app, source, **options):
    with app.app_context():
        return importers.write_events(Agent.get(Agent.name == "Support Bot"), source, app.config, batch_size=BATCH, **options)


def stored_events(app):
    with app.app_context():
        return Event.select().count()


def test_a_source_read_ahead_is_read_in_another_process_and_arrives_whole_in_order(app, people, tmp_path):
    readers = tmp_path / "readers"

    def note_reader(number):
        with open(readers, "a") as f:
            f.write(f"{os.getpid()}\n")

    progress = []
    outcome = imported(app, Lines(40, note_reader), on_progress=lambda done, total, outcome: progress.append((done, total)))
    assert {int(pid) for pid in readers.read_text().split()} - {os.getpid()}, "read in this process"
    assert outcome.imported == 40 - 5 and outcome.skipped == 5
    assert [where for where, _ in outcome.reasons] == ["line 7", "line 14", "line 21", "line 28", "line 35"]
    assert progress == [(n, 40) for n in range(5, 41, 5)] + [(40, 40)]
    assert stored_events(app) == 35


def test_a_daemonic_process_reads_its_source_itself(app, people, tmp_path, monkeypatch):
    """Huey's process workers are daemonic, and may not have children."""
    monkeypatch.setattr(read_ahead.multiprocessing, "current_process", lambda: SimpleNamespace(daemon=True))
    readers = []
    outcome = imported(app, Lines(12, lambda number: readers.append(os.getpid())))
    assert set(readers) == {os.getpid()} and outcome.imported == 11


def test_what_the_source_raises_is_raised_here_after_the_batches_before_it(app, people):
    def fail_at_twelve(number):
        if number == 12:
            raise ImportFailed("line 12 cannot be read")

    with pytest.raises(ImportFailed, match="line 12 cannot be read"):
        imported(app, Lines(40, fail_at_twelve))
    assert stored_events(app) == 10 - 1  # two whole batches, less line 7


def test_a_reader_killed_midway_ends_the_import_with_a_clear_error_and_keeps_what_was_written(app, people):
    def killed_at_twelve(number):
        if number == 12:
            os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(ImportFailed, match=r"the process reading the file stopped \(exit code -9\)"):
        imported(app, Lines(40, killed_at_twelve))
    assert stored_events(app) == 10 - 1
    assert multiprocessing.active_children() == []


def test_a_reader_killed_while_it_sends_a_batch_ends_the_import_as_clearly(app, people, monkeypatch):
    writer_pid, send_bytes = os.getpid(), multiprocessing.connection.Connection.send_bytes
    sent = []

    def dies_halfway(self, message, *args):
        if os.getpid() != writer_pid and len(sent) == 2:
            self._send(struct.pack("!i", len(message)) + bytes(message[: len(message) // 2]))
            os.kill(os.getpid(), signal.SIGKILL)
        sent.append(message)
        return send_bytes(self, message, *args)

    monkeypatch.setattr(multiprocessing.connection.Connection, "send_bytes", dies_halfway)
    with pytest.raises(ImportFailed, match=r"the process reading the file stopped \(exit code -9\)"):
        imported(app, Lines(40))
    assert stored_events(app) == 10 - 1
    assert multiprocessing.active_children() == []


def test_the_reader_stops_when_the_writer_fails(app, people, monkeypatch):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(writer, "ingest_events", failing)
    with pytest.raises(RuntimeError, match="the disk is full"):
        imported(app, Lines(100_000))
    assert calls == [1] and multiprocessing.active_children() == []
