"""Importing from where the conversations already are: Rasa trackers (files and the
SQL tracker store, incrementally) and CSV logs, through the API's rules and write path."""
import hashlib
import json
import os
from pathlib import Path

import pytest
from peewee import JOIN

from devtools.processes import postgres_database
from devtools.rasa_store import COLUMNS, TrackerStore, row_for
from importers import rasa
from models import Agent, Dialog, Event, ImportCursor, Slot
from tests.conftest import POSTGRES_URL, postgres_available

RASA = os.path.join(os.path.dirname(__file__), "data", "rasa")
PIZZA = os.path.join(RASA, "pizza-c0ffee42.json")
GREETING = os.path.join(RASA, "greeting-ada-7.json")


def load(path):
    with open(path) as f:
        return json.load(f)


def mapped(sender_id, events):
    """map_sender's items for plain events, as (dialog_id, sender, slot, text, channel) or reasons."""
    catalogue = {}
    items = list(rasa.map_sender(sender_id, ((f"event {n}", e, True) for n, e in enumerate(events, 1)), catalogue))
    rows = [(i.payload["dialog_id"], i.payload["sender"], i.payload.get("slot"), i.payload.get("text"), i.payload["channel"])
            if i.payload else (i.where, i.reason) for i in items]
    return rows, catalogue


def ev(kind, t=0, **fields):
    return {"event": kind, "timestamp": 1772359200 + t, **fields}


# --- the mapping, rule by rule ------------------------------------------------

def test_user_events_are_the_user_with_their_text_and_channel():
    rows, _ = mapped("s", [ev("user", text="hi", input_channel="telegram")])
    assert rows == [("s", "user", None, "hi", "telegram")]


def test_a_session_without_an_input_channel_is_on_channel_rasa():
    rows, _ = mapped("s", [ev("user", text="hi", input_channel=None), ev("bot", 1, text="Hello")])
    assert {row[4] for row in rows} == {"rasa"}


def test_a_sessions_first_user_event_decides_its_channel():
    rows, _ = mapped("s", [ev("bot", text="Welcome"), ev("user", 1, text="hi"), ev("user", 2, text="again", input_channel="rest")])
    assert {row[4] for row in rows} == {"rasa"}


def test_a_session_waits_for_its_channel_and_one_that_never_gets_a_user_event_is_held_back_while_open():
    assert mapped("s", [ev("action", name="utter_welcome"), ev("bot", 1, text="Welcome")])[0] == []
    rows, _ = mapped("s", [ev("bot", text="Welcome"), ev("session_started", 1), ev("user", 2, text="hi", input_channel="rest")])
    assert rows == [("s", "bot", None, "Welcome", "rasa"), ("s#2", "user", None, "hi", "rest")]


def test_a_session_held_back_by_an_earlier_import_comes_out_whole_and_a_decided_one_only_from_the_new_events():
    def emitted(events, new_from):
        items = rasa.map_sender("s", ((f"event {n}", e, n >= new_from) for n, e in enumerate(events, 1)), {})
        return [(i.where, i.payload["channel"]) for i in items]

    welcome = [ev("bot", text="Welcome"), ev("user", 1, text="hi", input_channel="socketio"), ev("bot", 2, text="Pizza?")]
    assert emitted(welcome, new_from=2) == [("event 1", "socketio"), ("event 2", "socketio"), ("event 3", "socketio")]
    assert emitted(welcome, new_from=3) == [("event 3", "socketio")]
    closed = [ev("bot", text="Welcome"), ev("session_started", 1), ev("user", 2, text="hi", input_channel="rest")]
    assert emitted(closed, new_from=2) == [("event 1", "rasa"), ("event 3", "rest")]
    assert emitted(closed, new_from=3) == [("event 3", "rest")]


def test_bot_events_take_their_slot_from_utter_action_or_else_the_last_action():
    rows, catalogue = mapped("s", [
        ev("action", name="action_check"), ev("bot", 1, text="On its way", metadata={}),
        ev("action", 2, name="action_listen"),
        ev("bot", 3, text="Size?", metadata={"utter_action": "utter_ask_size"}), ev("user", 4, text="large"),
    ])
    assert [row[1:4] for row in rows][:3] == [("system", "action_check", None), ("bot", "action_check", "On its way"),
                                          ("bot", "utter_ask_size", "Size?")]
    assert catalogue["utter_ask_size"].type == "utter" and catalogue["action_check"].type == "action"


def test_a_bot_event_with_no_action_before_it_has_no_slot():
    rows, _ = mapped("s", [ev("action", name="action_listen"), ev("bot", 1, text="Welcome!"), ev("session_started", 2)])
    assert rows == [("s", "bot", None, "Welcome!", "rasa")]


def test_bookkeeping_actions_are_skipped_and_do_not_name_the_next_bot_event():
    rows, _ = mapped("s", [ev("action", name=name) for name in rasa.BOOKKEEPING] + [ev("bot", 1, text="Hi"), ev("session_started", 2)])
    assert rows == [("s", "bot", None, "Hi", "rasa")]


def test_session_started_begins_the_next_dialog_and_forgets_the_last_action():
    rows, _ = mapped("s", [
        ev("action", name="action_session_start"), ev("session_started"), ev("user", 1, text="a"),
        ev("action", 2, name="utter_bye"), ev("session_started", 3), ev("bot", 4, text="again"),
        ev("session_started", 5), ev("user", 6, text="b"),
    ])
    assert [(row[0], row[2]) for row in rows] == [("s", None), ("s", "utter_bye"), ("s#2", None), ("s#3", None)]


def test_other_rasa_events_are_ignored_and_unknown_ones_reported():
    rows, _ = mapped("s", [ev("slot", name="x", value=1), ev("restart"), ev("active_loop", name="f"), ev("teleport"), {"timestamp": 1}])
    assert rows == [("event 4", "unknown Rasa event type 'teleport'"), ("event 5", "has no `event` field")]


def test_bad_timestamps_are_reported():
    rows, _ = mapped("s", [ev("user", text="a") | {"timestamp": "yesterday"}, ev("user", text="b") | {"timestamp": None}])
    assert [row[1] for row in rows] == ["timestamp must be Unix seconds"] * 2


@pytest.mark.parametrize("event, reason", [
    (ev("bot", text="Hi", metadata="x"), "`metadata` is not a JSON object"),
    (ev("bot", text="Hi", metadata={"utter_action": ["a"]}), "`metadata.utter_action` is not a string"),
    (ev("action", name=["action_listen"]), "action event without a `name`"),
    (ev(["user"], text="Hi"), "`event` is not a string"),
    (ev({"a": 1}), "`event` is not a string"),
])
def test_a_malformed_event_is_skipped_with_its_reason(event, reason):
    rows, _ = mapped("s", [ev("user", text="a", input_channel="rest"), event, ev("user", 2, text="b", input_channel="rest")])
    assert rows == [("s", "user", None, "a", "rest"), ("event 2", reason), ("s", "user", None, "b", "rest")]


def test_a_session_waiting_for_its_channel_keeps_memory_flat_and_comes_out_whole():
    """Its waiting events beyond WAITING_IN_MEMORY go to a temporary file: 60,000 bot
    events before the first user event took 23 MB before (all held as payloads), and
    come out in order, on the user event's channel, all the same."""
    import tracemalloc

    def events(user_at):
        for n in range(1, 60_002):
            yield (f"event {n}", ev("user", n, text="hi", input_channel="rest") if n == user_at else ev("bot", n, text="Pizza?"), True)

    tracemalloc.start()
    try:
        assert list(rasa.map_sender("s", events(user_at=None), {})) == []  # still open: held back, as before
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"{peak / 1e6:.0f} MB"
    items = list(rasa.map_sender("s", events(user_at=60_001), {}))
    assert [i.where for i in items] == [f"event {n}" for n in range(1, 60_002)]
    assert {i.payload["channel"] for i in items} == {"rest"} and items[1234].payload["timestamp"] == "2026-03-01T10:20:35+00:00"


# --- whole trackers ---------------------------------------------------------------

def stored(agent):
    dialogs = Dialog.select(Dialog.external_id, Dialog.channel, Dialog.is_counted, Slot.key).join(
        Slot, JOIN.LEFT_OUTER, on=(Dialog.stop_slot == Slot.id)).where(Dialog.agent == agent)
    return {ext: (channel, bool(counted), key) for ext, channel, counted, key in dialogs.tuples()}


EXPECTED_DIALOGS = {
    "c0ffee42": ("telegram", True, "utter_ask_pizza_type"),
    "c0ffee42#2": ("rasa", True, "action_default_fallback"),
    "c0ffee42#3": ("telegram", True, "action_check_order"),
    "ada-7": ("rest", True, "utter_greet"),
}


def test_a_folder_of_trackers(app, runner, people):
    result = runner.invoke(args=["import-rasa", RASA, "--agent", "Support Bot"])
    assert result.exit_code == 0, result.output
    assert "Imported 20 new events into 'Support Bot'; 0 were already stored; 0 events skipped." in result.output
    with app.app_context():
        assert stored(people["support"]) == EXPECTED_DIALOGS
        slots = {s.key: (s.name, s.type, s.text) for s in Slot.select().where(Slot.agent == people["support"])}
        assert slots["utter_ask_pizza_size"] == ("utter_ask_pizza_size", "utter", "What size would you like?")
        assert slots["pizza_form"] == ("pizza_form", "action", "")
        assert slots["action_default_fallback"][1:] == ("action", "Sorry, I didn't get that. Can you rephrase?")
    again = runner.invoke(args=["import-rasa", PIZZA, "--agent", "Support Bot"])
    assert "Imported 0 new events" in again.output and "17 were already stored" in again.output


def test_the_teams_own_slot_names_are_kept(app, runner, people):
    from ingest.rules import SlotIn
    from ingest.writer import upsert_slots

    with app.app_context():
        upsert_slots(people["support"], [SlotIn("utter_greet", "Greeting", "message", "Hi!")])
    runner.invoke(args=["import-rasa", GREETING, "--agent", "Support Bot"])
    with app.app_context():
        slot = Slot.get(Slot.key == "utter_greet")
        assert (slot.name, slot.type, slot.text) == ("Greeting", "message", "Hi!")


def test_broken_trackers_are_named_and_the_rest_imported(app, runner, people, tmp_path):
    (tmp_path / "a-truncated.json").write_bytes(Path(PIZZA).read_bytes()[:500])
    odd = load(GREETING)
    odd["events"].insert(3, {"event": "teleport", "timestamp": 1772366401.0})
    (tmp_path / "b-odd.json").write_text(json.dumps(odd))
    (tmp_path / "c-not-a-tracker.json").write_text('{"hello": 1}')
    (tmp_path / "d-deep.json").write_text('{"sender_id": "s", "events": ' + "[" * 100_000 + "]" * 100_000 + "}")
    (tmp_path / "notes.txt").write_text("not JSON, not read")
    result = runner.invoke(args=["import-rasa", str(tmp_path), "--agent", "Support Bot"])
    assert "Imported 3 new events" in result.output and "4 events skipped" in result.output
    assert "a-truncated.json: is not valid JSON (line " in result.output and "is the file complete?" in result.output
    assert "b-odd.json event 4: unknown Rasa event type 'teleport'" in result.output
    assert "c-not-a-tracker.json: has no `events` list" in result.output
    assert "d-deep.json: is nested too deeply to be a tracker" in result.output
    assert result.exit_code == 1, result.output  # three files could not be read: cron must notice
    assert result.output.endswith("Error: 3 of 4 files could not be read (a-truncated.json, c-not-a-tracker.json, d-deep.json); "
                                  "the rest was imported.\n")


def test_a_truncated_tracker_given_alone_exits_non_zero_and_skipped_events_do_not(app, runner, people, tmp_path):
    (tmp_path / "broken.json").write_bytes(Path(PIZZA).read_bytes()[:500])
    broken = runner.invoke(args=["import-rasa", str(tmp_path / "broken.json"), "--agent", "Support Bot"])
    assert broken.exit_code == 1 and "broken.json: is not valid JSON" in broken.output, broken.output
    assert "Error: broken.json could not be read; nothing was imported." in broken.output
    odd = load(GREETING)
    odd["events"].insert(3, {"event": "teleport", "timestamp": 1772366401.0})
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    skipped = runner.invoke(args=["import-rasa", str(tmp_path / "odd.json"), "--agent", "Support Bot"])
    assert skipped.exit_code == 0 and "1 events skipped" in skipped.output, skipped.output


def test_a_tracker_file_is_read_an_event_at_a_time_and_its_faults_placed_as_json_places_them(tmp_path):
    """The file is parsed in a stream (ijson); a fault is named at the line and column
    where `json` puts it, in the parser's words but never quoting the file (yajl's own
    message quotes the text around the fault, an end user's words)."""
    def json_places(content):
        with pytest.raises(json.JSONDecodeError) as fault:
            json.loads(content.decode())
        return fault.value.lineno, fault.value.colno

    faults = [b'{"sender_id": "s",\n "events": [{"event": "user", "text": "secret", "x": ?}]}',
              '{"sender_id": "s",\n "events": [{"text": "sécrét"} {"text": "secret"}]}'.encode(),
              b'{"sender_id": "s", "events": [{"text": "secret"}]} {}', b""]
    truncated = b'{"sender_id": "s", "events": [{"text": "secr'  # json names where the string began; this, the end
    for content, (line, column) in [*((c, json_places(c)) for c in faults), (truncated, (1, len(truncated) + 1))]:
        (tmp_path / "t.json").write_bytes(content)
        [item] = rasa.TrackerFiles(str(tmp_path / "t.json"))
        assert item.reason.startswith(f"is not valid JSON (line {line}, column {column}: ") and "secr" not in item.reason
        assert item.reason.endswith("); is the file complete?")
    for number in (b"NaN", b"-Infinity", b"1e400", b"123456789012345678901234567890"):  # Python's json took them
        (tmp_path / "t.json").write_bytes(b'{"sender_id": "s", "events": [{"timestamp": %s}]}' % number)
        [item] = rasa.TrackerFiles(str(tmp_path / "t.json"))
        assert item.reason.startswith("is not valid JSON (line 1, column "), item.reason
    (tmp_path / "t.json").write_bytes(b'{"sender_id": "s", "events": [{"a": nope, "text": "\xff secret"}]}')
    [item] = rasa.TrackerFiles(str(tmp_path / "t.json"))
    assert "secret" not in item.reason and "(line 1, column 38: invalid string in json text)" in item.reason
    shapes = {
        b'{"events": [{"event": "user", "timestamp": 1772359200, "text": "hi"}], "sender_id": "late"}': "late",
        b'[{"sender_id": "s", "events": []}]': "has no `events` list; is it a tracker from GET /conversations/<sender_id>/tracker?",
        b'{"sender_id": "s", "events": {"item": {"event": "user", "timestamp": 1}}}': "has no `events` list; is it a tracker",
        b'{"sender_id": "s", "events": [], "events": []}': "has more than one `events` field",
        b'{"sender_id": ["s"], "events": []}': "has no `sender_id`",
        b'{"sender_id": "", "events": []}': "has no `sender_id`",
    }
    for content, expected in shapes.items():
        (tmp_path / "t.json").write_bytes(content)
        [item] = rasa.TrackerFiles(str(tmp_path / "t.json"))
        assert (item.payload["dialog_id"] if item.payload else item.reason).startswith(expected)


def test_a_tracker_file_changed_between_its_two_readings_is_named_as_unread(tmp_path, monkeypatch):
    (tmp_path / "t.json").write_text(json.dumps(load(GREETING)))
    check = rasa._read_tracker

    def checked_then_cut(path):
        sender_id = check(path)
        Path(path).write_bytes(Path(GREETING).read_bytes()[:400])
        return sender_id

    monkeypatch.setattr(rasa, "_read_tracker", checked_then_cut)
    source = rasa.TrackerFiles(str(tmp_path / "t.json"))
    assert [item.reason for item in source][-1] == "changed while it was being imported; import it again"
    assert source.unread == ["t.json"]


def test_a_tracker_file_that_cannot_be_opened_is_named_and_the_rest_imported(app, runner, people, tmp_path):
    (tmp_path / "a-folder.json").mkdir()
    (tmp_path / "b.json").write_text(json.dumps(load(GREETING)))
    result = runner.invoke(args=["import-rasa", str(tmp_path), "--agent", "Support Bot"])
    assert result.exit_code == 1 and "a-folder.json: could not be read (Is a directory)" in result.output, result.output
    assert "Imported 3 new events" in result.output


def test_malformed_events_in_a_tracker_are_skipped_and_the_rest_imported(app, runner, people, tmp_path):
    tracker = load(GREETING)
    tracker["events"][5:5] = [ev("bot", 5, text="Hi", metadata="x"), ev("bot", 6, text="Hi", metadata={"utter_action": ["a"]})]
    (tmp_path / "odd.json").write_text(json.dumps(tracker))
    result = runner.invoke(args=["import-rasa", str(tmp_path / "odd.json"), "--agent", "Support Bot"])
    assert result.exit_code == 0, result.output
    assert "Imported 3 new events into 'Support Bot'; 0 were already stored; 2 events skipped." in result.output
    assert "odd.json event 6: `metadata` is not a JSON object" in result.output
    assert "odd.json event 7: `metadata.utter_action` is not a string" in result.output


ODD_VALUES = [None, True, 0, 1.5, 1e300, "", "x", "\0", [], ["a"], {}, {"a": 1}, {"utter_action": ["a"]}, {"utter_action": {}}]


def test_any_json_value_in_any_field_of_a_rasa_event_is_imported_or_skipped_never_ends_the_import(app, runner, people, tmp_path):
    plain = [ev("user", text="hi", input_channel="rest", metadata={}), ev("bot", 1, text="Hello", metadata={"utter_action": "utter_x"}),
             ev("action", 2, name="action_x"), ev("session_started", 3)]
    odd = [{**event, field: value} for event in plain for field in [*event, "extra"] for value in ODD_VALUES]
    (tmp_path / "odd.json").write_text(json.dumps({"sender_id": "s", "events": odd + plain}))
    result = runner.invoke(args=["import-rasa", str(tmp_path / "odd.json"), "--agent", "Support Bot"])
    assert result.exit_code == 0, result.output
    assert "Imported " in result.output and " events skipped." in result.output


def test_only_a_stored_bot_event_names_a_slots_text(app, runner, people, tmp_path):
    """A bot text that is skipped (a NUL, 60,000 characters) never becomes the slot's text; the next stored one does."""
    tracker = {"sender_id": "nul-1", "events": [
        ev("user", text="hi", input_channel="rest"),
        ev("bot", 1, text="x" * 60_000 + "\0", metadata={"utter_action": "utter_greet"}),
        ev("bot", 2, text="Hello!", metadata={"utter_action": "utter_greet"}),
        ev("action", 3, name="action_check"),
        ev("bot", 4, text="Bad\0text"),
    ]}
    (tmp_path / "nul.json").write_text(json.dumps(tracker))
    result = runner.invoke(args=["import-rasa", str(tmp_path / "nul.json"), "--agent", "Support Bot"])
    assert "Imported 3 new events into 'Support Bot'; 0 were already stored; 2 events skipped." in result.output, result.output
    with app.app_context():
        texts = {s.key: s.text for s in Slot.select().where(Slot.agent == people["support"])}
    assert texts == {"utter_greet": "Hello!", "action_check": ""}


def test_the_first_bot_text_names_the_slot(app, runner, people, tmp_path):
    tracker = {"sender_id": "s", "events": [ev("bot", text="First", metadata={"utter_action": "utter_x"}),
                                            ev("bot", 1, text="Second", metadata={"utter_action": "utter_x"}),
                                            ev("user", 2, text="hi")]}
    (tmp_path / "s.json").write_text(json.dumps(tracker))
    runner.invoke(args=["import-rasa", str(tmp_path / "s.json"), "--agent", "Support Bot"])
    with app.app_context():
        assert Slot.get(Slot.key == "utter_x").text == "First"


def test_a_missing_source_is_a_clear_error(runner, people, tmp_path):
    result = runner.invoke(args=["import-rasa", str(tmp_path / "nope.json"), "--agent", "Support Bot"])
    assert result.exit_code == 1 and "is neither a tracker file nor a folder of them" in result.output


# --- Rasa's SQL tracker store, incrementally ----------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tracker_store(request, tmp_path):
    """An empty tracker store of Rasa's, on SQLite or on the local PostgreSQL."""
    if request.param == "sqlite":
        store = TrackerStore(f"sqlite:///{tmp_path}/rasa.db")
        yield store
        store.close()
        return
    if not postgres_available():
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    with postgres_database(POSTGRES_URL) as url:
        store = TrackerStore(url)
        yield store
        store.close()


def interleaved(*trackers):
    """The trackers' rows as a live store gets them: senders taking turns, by time."""
    rows = [row_for(t["sender_id"], e) for t in trackers for e in t["events"]]
    return sorted(rows, key=lambda row: row[2])


def test_the_sql_tracker_store_incrementally(app, runner, people, tracker_store):
    pizza, greeting = load(PIZZA), load(GREETING)
    greeted = ev("bot", 8000, text="Welcome!", metadata={"utter_action": "utter_welcome"})  # before the user speaks
    tracker_store.add(interleaved(pizza, greeting) + [row_for("w-2", greeted)])
    first = runner.invoke(args=["import-rasa", tracker_store.url, "--agent", "Support Bot"])
    assert first.exit_code == 0, first.output
    assert "Imported 20 new events" in first.output and "Read 48 rows" in first.output
    with app.app_context():
        assert stored(people["support"]) == EXPECTED_DIALOGS  # w-2's session waits for its channel

    tracker_store.add([row_for("c0ffee42", e) for e in [
        ev("user", 9000, text="and my pizza?", input_channel="telegram", parse_data={"intent": {"name": "ask"}}),
        ev("action", 9000.5, name="utter_ask_pizza_size"),
        ev("bot", 9000.6, text="What size would you like?", metadata={"utter_action": "utter_ask_pizza_size"}),
        ev("action", 9000.7, name="action_listen"),
    ]] + [row_for("ada-7", e) for e in [ev("action", 9100, name="action_session_start"), ev("session_started", 9100.1),
                                          ev("user", 9101, text="bye", input_channel="rest")]]
                      + [row_for("w-2", ev("user", 9200, text="hi", input_channel="socketio"))])
    second = runner.invoke(args=["import-rasa", tracker_store.url, "--agent", "Support Bot"])
    assert second.exit_code == 0, second.output
    assert "Imported 6 new events into 'Support Bot'" in second.output, second.output
    if tracker_store.url.startswith("sqlite"):  # PostgreSQL reads rows before the cursor again: see the next test
        assert "0 were already stored" in second.output and "Read 8 rows" in second.output
    with app.app_context():
        dialogs = stored(people["support"])
        assert dialogs["c0ffee42#3"] == ("telegram", True, "utter_ask_pizza_size")  # the third session goes on
        assert dialogs["ada-7#2"] == ("rest", True, None)
        assert dialogs["w-2"] == ("socketio", True, "utter_welcome")  # the greeting of run 1, on the user's channel
        assert Event.select().count() == 26

    third = runner.invoke(args=["import-rasa", tracker_store.url, "--agent", "Support Bot"])
    assert "Imported 0 new events into 'Support Bot'" in third.output
    with app.app_context():
        assert Event.select().count() == 26 and ImportCursor.select().count() == 1


# A sender whose sessions wait for their channel: greeted before the user speaks on
# socketio; a first user event without a channel; a session with no user event, ended
# by the next; and one still open without a user event, held back.
WELCOME = {"sender_id": "w-1", "events": [
    ev("action", 0.5, name="action_session_start"), ev("session_started", 0.6),
    ev("action", 1, name="utter_welcome"),
    ev("bot", 1.1, text="Welcome! Pizza or pasta?", metadata={"utter_action": "utter_welcome"}),
    ev("action", 1.2, name="action_listen"),
    ev("user", 70, text="pizza", input_channel="socketio", parse_data={"intent": {"name": "pizza"}}),
    ev("bot", 71, text="Large or small?", metadata={"utter_action": "utter_ask_size"}),
    ev("action", 71.1, name="action_listen"),
    ev("action", 4000, name="action_session_start"), ev("session_started", 4000.1),
    ev("bot", 4001, text="Welcome back!", metadata={"utter_action": "utter_welcome_back"}),
    ev("user", 4060, text="hello?", input_channel=None), ev("user", 4061, text="order", input_channel="socketio"),
    ev("action", 8000, name="action_session_start"), ev("session_started", 8000.1),
    ev("bot", 8001, text="Still hungry?", metadata={"utter_action": "utter_nudge"}),
    ev("action", 9500, name="action_session_start"), ev("session_started", 9500.1),
    ev("user", 9501, text="yes", input_channel="socketio"),
    ev("action", 12000, name="action_session_start"), ev("session_started", 12000.1),
    ev("bot", 12001, text="Bye for now", metadata={"utter_action": "utter_bye"}),
]}


def everything_stored(agent):
    """All an agent's import left behind, independent of row ids and import order."""
    dialogs = Dialog.select(Dialog.external_id, Dialog.channel, Dialog.is_counted, Dialog.started_at, Slot.key).join(
        Slot, JOIN.LEFT_OUTER, on=(Dialog.stop_slot == Slot.id)).where(Dialog.agent == agent)
    events = Event.select(Dialog.external_id, Event.sender, Slot.key, Event.text, Event.timestamp).join(Dialog).switch(
        Event).join(Slot, JOIN.LEFT_OUTER).where(Dialog.agent == agent)
    # a slot's text is its first stored bot text: one here, as every response in these trackers has one text
    slots = Slot.select(Slot.key, Slot.name, Slot.type, Slot.text).where(Slot.agent == agent)
    return {"dialogs": sorted(dialogs.tuples()), "events": sorted(events.tuples(), key=repr), "slots": sorted(slots.tuples())}


def test_a_store_imported_at_any_row_and_again_later_equals_importing_it_once(app, runner, tracker_store):
    """For every split point of every session (the store's rows as Rasa wrote them,
    senders taking turns): an import after the first k rows and one after all rows
    store exactly what one import after all rows does."""
    from tests.conftest import make_agent

    rows = interleaved(load(PIZZA), load(GREETING), WELCOME)
    with app.app_context():
        for k in range(len(rows) + 1):
            make_agent(f"split {k}")
        make_agent("once")
    for k, row in enumerate(rows):
        result = runner.invoke(args=["import-rasa", tracker_store.url, "--agent", f"split {k}"])
        assert result.exit_code == 0, result.output
        tracker_store.add([row])
    for agent in [f"split {k}" for k in range(len(rows) + 1)] + ["once"]:
        result = runner.invoke(args=["import-rasa", tracker_store.url, "--agent", agent])
        assert result.exit_code == 0, result.output
    with app.app_context():
        once = everything_stored(Agent.get(Agent.name == "once"))
        assert {ext: channel for ext, channel, *_ in once["dialogs"]} == {
            "c0ffee42": "telegram", "c0ffee42#2": "rasa", "c0ffee42#3": "telegram", "ada-7": "rest",
            "w-1": "socketio", "w-1#2": "rasa", "w-1#3": "rasa", "w-1#4": "socketio",
        }
        assert ("w-1", "bot", "utter_welcome", "Welcome! Pizza or pasta?") in [e[:4] for e in once["events"]]
        for k in range(len(rows)):
            assert everything_stored(Agent.get(Agent.name == f"split {k}")) == once, f"split after row {k}"


def test_a_recreated_tracker_store_is_read_from_its_first_row(app, runner, people, tmp_path):
    store = TrackerStore(f"sqlite:///{tmp_path}/rasa.db")
    store.add(interleaved(load(PIZZA), load(GREETING)))
    store.close()
    runner.invoke(args=["import-rasa", store.url, "--agent", "Support Bot"])
    os.remove(tmp_path / "rasa.db")
    store = TrackerStore(store.url)
    store.add(interleaved(WELCOME))
    store.close()
    result = runner.invoke(args=["import-rasa", store.url, "--agent", "Support Bot"])
    assert result.exit_code == 0, result.output
    assert f"ends at row {len(interleaved(WELCOME))}, before row 47 where the last run stopped: it was recreated" in result.output
    assert "Imported 9 new events" in result.output and "the next run starts after row 22" in result.output, result.output
    with app.app_context():
        assert Dialog.select().where(Dialog.external_id.startswith("w-1")).count() == 4


@pytest.mark.postgres
def test_a_row_committed_late_on_postgresql_is_not_lost(app, runner, people):
    """Rasa's writers commit in any order: a row whose id was handed out before a
    run, but committed after it, is imported by the next run."""
    if not postgres_available():
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    import psycopg2

    with postgres_database(POSTGRES_URL) as url:
        store = TrackerStore(url)
        slow = psycopg2.connect(url)
        slow_rows = [row_for("slow", ev("user", 1, text="late", input_channel="rest"))]
        slow.cursor().executemany(f"INSERT INTO events ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)", slow_rows)  # id 1, open
        store.add([row_for("quick", ev("user", 2, text="early", input_channel="rest"))])  # id 2, committed
        first = runner.invoke(args=["import-rasa", url, "--agent", "Support Bot"])
        assert "Imported 1 new events" in first.output, first.output
        slow.commit()
        slow.close()
        second = runner.invoke(args=["import-rasa", url, "--agent", "Support Bot"])
        store.close()
    assert "Imported 1 new events" in second.output and "1 were already stored" in second.output, second.output
    with app.app_context():
        assert sorted(e.text for e in Event.select()) == ["early", "late"]


def test_the_cursor_is_per_agent(app, runner, people, tracker_store):
    tracker_store.add(interleaved(load(GREETING)))
    runner.invoke(args=["import-rasa", tracker_store.url, "--agent", "Support Bot"])
    other = runner.invoke(args=["import-rasa", tracker_store.url, "--agent", "Sales Bot"])
    assert "Imported 3 new events into 'Sales Bot'" in other.output


def test_the_tracker_store_is_never_written(app, runner, people, tmp_path):
    store = TrackerStore(f"sqlite:///{tmp_path}/rasa.db")
    store.add(interleaved(load(PIZZA)))
    store.close()
    before = hashlib.sha256((tmp_path / "rasa.db").read_bytes()).hexdigest()
    runner.invoke(args=["import-rasa", f"sqlite:///{tmp_path}/rasa.db", "--agent", "Support Bot"])
    assert hashlib.sha256((tmp_path / "rasa.db").read_bytes()).hexdigest() == before
    assert not os.path.exists(tmp_path / "rasa.db-wal")


@pytest.mark.parametrize("url, message", [
    ("postgresql://nobody@127.0.0.1:1/rasa", "Could not read the Rasa tracker store at postgresql://nobody@127.0.0.1:1/rasa"),
    ("sqlite:///{tmp}/missing.db", "No SQLite file at"),
    ("sqlite:///{tmp}/other.db", "it has no `events` table; is this Rasa's SQL tracker store?"),
    ("mysql://root@localhost/rasa", "is not a tracker store URL"),
])
def test_a_tracker_store_that_cannot_be_read(app, runner, people, tmp_path, url, message):
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE conversations (id INTEGER)").connection.close()
    result = runner.invoke(args=["import-rasa", url.format(tmp=tmp_path), "--agent", "Support Bot"])
    assert result.exit_code == 1 and message in result.output, result.output
    with app.app_context():
        assert Event.select().count() == 0 and ImportCursor.select().count() == 0


@pytest.mark.postgres
def test_a_password_never_reaches_the_cursor_or_the_output(app, runner, people):
    if not postgres_available():
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    with postgres_database(POSTGRES_URL) as url:
        store = TrackerStore(url)
        store.add(interleaved(load(GREETING)))
        store.close()
        result = runner.invoke(args=["import-rasa", url.replace("postgres@", "postgres:s3cret-pw@"), "--agent", "Support Bot"])
    assert result.exit_code == 0 and "Imported 3 new events" in result.output and "s3cret-pw" not in result.output
    with app.app_context():
        assert "s3cret-pw" not in ImportCursor.get().source


# --- CSV logs -------------------------------------------------------------------

def import_csv(runner, path, *options):
    return runner.invoke(args=["import-csv", str(path), "--agent", "Support Bot", *options])


def test_a_csv_with_bom_semicolons_multiline_texts_and_both_kinds_of_time(app, runner, people, tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes("\ufeffconversation;time;role;step;message\r\n"
                     "c1;2026-03-01 11:00:00;client;;Hallo\r\n"
                     'c1;1772359260;operator;ask_size;"Welche Größe?\r\nKlein; mittel oder groß"\r\n'
                     "c2;2026-03-01T10:05:00Z;client;;hi\r\n".encode("utf-8"))
    result = import_csv(runner, path, "--map", "dialog_id=conversation,timestamp=time,sender=role,slot=step,text=message",
                        "--sender-values", "user=client,bot=operator", "--timezone", "Europe/Berlin")
    assert result.exit_code == 0, result.output
    assert "Imported 3 new events into 'Support Bot'; 0 were already stored; 0 lines skipped." in result.output
    with app.app_context():
        texts = {e.text: (e.sender, e.timestamp.isoformat(), e.dialog.channel) for e in Event.select()}
        assert texts["Hallo"] == ("user", "2026-03-01T10:00:00", "csv")  # 11:00 in Berlin
        assert texts["Welche Größe?\r\nKlein; mittel oder groß"] == ("bot", "2026-03-01T10:01:00", "csv")
        assert stored(people["support"])["c1"] == ("csv", True, "ask_size")


def test_csv_rows_that_cannot_be_read_are_named_by_line_and_column(app, runner, people, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("id,at,who,channel\n"
                    "a,2026-03-01T10:00:00+00:00,user,web\n"
                    "a,31/02/2026,user,web\n"
                    "b,2026-03-01T10:00:00,user,web\n"
                    "c,2026-03-01T10:00:00+00:00,agent,web\n"
                    "d,2026-03-01T10:00:00+00:00,user\n")
    result = import_csv(runner, path, "--map", "dialog_id=id,timestamp=at,sender=who,channel=channel")
    assert result.exit_code == 0, result.output
    assert "Imported 1 new events" in result.output and "4 lines skipped" in result.output
    assert "line 3: column 'at': '31/02/2026' is neither an ISO 8601 date and time nor Unix seconds" in result.output
    assert "line 4: column 'at': '2026-03-01T10:00:00' has no UTC offset; say which time zone" in result.output
    assert "line 5: column 'who': 'agent' is not a sender" in result.output
    assert "line 6: has 3 columns where the header has 4" in result.output


@pytest.mark.parametrize("options, message", [
    (["--map", "dialog_id=id,timestamp=at"], "--map must name a column for sender"),
    (["--map", "dialog_id=id,timestamp=at,sender=who,mood=x"], "--map: unknown field 'mood'"),
    (["--map", "dialog_id=id,timestamp=when,sender=who"], "--map names columns the file does not have (timestamp=when); its columns are: id, at, who"),
    (["--map", "dialog_id=id,timestamp=at,sender=who", "--timezone", "Mars/Olympus"], "'Mars/Olympus' is not a time zone name"),
    (["--map", "dialog_id=id,timestamp=at,sender=who", "--sender-values", "robot=x"], "--sender-values: 'robot=x' should be SENDER=VALUE"),
])
def test_csv_options_that_cannot_work(app, runner, people, tmp_path, options, message):
    path = tmp_path / "log.csv"
    path.write_text("id,at,who\na,2026-03-01T10:00:00Z,user\n")
    result = import_csv(runner, path, *options)
    assert result.exit_code != 0 and message in result.output, result.output


def test_csv_lines_that_are_not_utf8_are_named(app, runner, people, tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b"id,at,who,text\n" + b"a,1772359200,user,ok\n" * 3 + "b,1772359200,user,Gr\u00f6\u00dfe\n".encode("latin-1"))
    result = import_csv(runner, path, "--map", "dialog_id=id,timestamp=at,sender=who,text=text")
    assert result.exit_code == 0 and "Imported 1 new events into 'Support Bot'; 2 were already stored" in result.output
    assert "line 5: is not UTF-8 text; save the file as UTF-8" in result.output, result.output


def test_a_tab_separated_export_with_unix_milliseconds_is_read_as_seconds_and_refused(app, runner, people, tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("id\tat\twho\na\t1772359200\tuser\nb\t1772359200000\tuser\n")
    result = import_csv(runner, path, "--map", "dialog_id=id,timestamp=at,sender=who")
    assert result.exit_code == 0, result.output
    assert "Imported 1 new events into 'Support Bot'; 0 were already stored; 1 lines skipped." in result.output
    assert "  line 3: column 'at': '1772359200000' is out of range for Unix seconds\n" in result.output, result.output
    with app.app_context():
        assert [e.dialog.external_id for e in Event.select()] == ["a"]
