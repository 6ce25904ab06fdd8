"""Bounded work for every request: no input, however large or strange, costs
unbounded time or storage, splits a stored list, forges a log line or gives a 500."""
import http.client
import json
import logging
from datetime import date

import pytest

from devtools.processes import Stack, free_port
from importers import Item, write_events
from ingest import rules, writer
from models import Channel, Event, ExportRequest, Slot
from tests.conftest import event

TODAY = date.today().isoformat()


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.e2e
def test_a_chunked_body_is_held_to_the_size_limit(tmp_path):
    """Werkzeug cuts a chunked body at the limit; the API must refuse it whole."""
    stack = Stack(tmp_path, free_port(), MAX_CONTENT_LENGTH=100_000)
    stack.cli("init-db")
    key = stack.cli("create-agent", "Bot").strip().rsplit(" ", 1)[1]
    stack.start_web()

    def send(*chunks):
        connection = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=30)
        connection.request("POST", "/api/v1/events", body=iter(chunks), headers=bearer(key), encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    try:
        batch = json.dumps([event("d1", "user", "2026-01-01T00:00:00+00:00")]).encode()
        filled = batch[:-1] + b" " * (100_000 - len(batch)) + b"]"  # a valid list exactly at the limit
        assert send(filled)[0] == 200
        assert send(filled, b"garbage after the list")[0] == 413
        assert send(b"[" + b" " * 60_000, b" " * 60_000 + b"]")[0] == 413
        status, errors = send(batch, b" trailing")
        assert status == 400 and "Extra data" in errors[0]["message"]
    finally:
        stack.stop()


def test_an_agent_has_at_most_so_many_channels(app, client, people):
    app.config["API_MAX_CHANNELS"] = 3
    key = people["support_key"]
    first = [event(f"d{i}", "user", "2026-01-01T00:00:00+00:00", channel=f"ch{i}") for i in range(3)]
    assert client.post("/api/v1/events", json=first, headers=bearer(key)).status_code == 200
    again = [event("d9", "user", "2026-01-01T00:00:00+00:00", channel="ch1")]
    assert client.post("/api/v1/events", json=again, headers=bearer(key)).status_code == 200, "known channels are fine"
    one_more = [event("d10", "user", "2026-01-01T00:00:00+00:00", channel="ch1"),
                event("d11", "user", "2026-01-01T00:00:00+00:00", channel="ch4")]
    response = client.post("/api/v1/events", json=one_more, headers=bearer(key))
    assert response.status_code == 400
    assert response.json == [{"index": 1, "field": "channel",
                              "message": "this agent may have at most 3 channels (API_MAX_CHANNELS); 'ch4' would be one more"}]
    with app.app_context():
        assert Channel.select().count() == 3


def test_a_batch_beyond_the_channel_cap_names_every_refused_event(app, client, people):
    """New channels take the places left in the order the batch names them; every
    event on a channel past the cap is named, and nothing of the batch is written."""
    app.config["API_MAX_CHANNELS"] = 3
    key = people["support_key"]
    first = [event(f"d{i}", "user", "2026-01-01T00:00:00+00:00", channel=f"ch{i}") for i in (1, 2)]
    assert client.post("/api/v1/events", json=first, headers=bearer(key)).status_code == 200
    names = ["ch1", "ch5", "ch3", "ch5", "ch4", "ch9"]
    batch = [event(f"e{i}", "user", "2026-01-02T00:00:00+00:00", channel=name) for i, name in enumerate(names)]
    response = client.post("/api/v1/events", json=batch, headers=bearer(key))
    assert response.status_code == 400
    message = "this agent may have at most 3 channels (API_MAX_CHANNELS); {!r} would be one more"
    assert response.json == [
        {"index": index, "field": "channel", "message": message.format(names[index])} for index in (2, 4, 5)
    ]
    with app.app_context():
        assert sorted(c.name for c in Channel.select()) == ["ch1", "ch2"]
        assert Event.select().count() == 2


def test_an_import_beyond_the_channel_cap_writes_each_batch_once(app, runner, people, tmp_path, monkeypatch):
    """A high-cardinality column mapped as channel: the refused events are known
    before anything is written, so the batch is written once, not once per refusal."""
    app.config["API_MAX_CHANNELS"] = 3
    lines = [event(f"d{i}", "user", "2026-01-01T00:00:00+00:00", channel=f"ch{i:03d}") for i in range(300)]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    writes = []
    insert_rows = writer.insert_rows
    monkeypatch.setattr(writer, "insert_rows", lambda query, rows: writes.append(query) or insert_rows(query, rows))
    result = runner.invoke(args=["import-events", str(tmp_path / "events.jsonl"), "--agent", "Support Bot"])
    assert "Imported 3 new events" in result.output and "297 lines skipped" in result.output
    assert "line 4: channel: this agent may have at most 3 channels (API_MAX_CHANNELS); 'ch003' would be one more" in result.output
    assert writes.count(writer.NEW_EVENTS) == 1
    with app.app_context():
        assert sorted(c.name for c in Channel.select()) == ["ch000", "ch001", "ch002"]


def test_a_channel_filter_counts_each_channel_once_and_is_capped(app, client, auth, people):
    app.config["FILTER_MAX_CHANNELS"] = 2
    events = [event(f"d{i}", "user", f"{TODAY}T12:00:00+00:00", channel=name) for i, name in enumerate("abc")]
    client.post("/api/v1/events", json=events, headers=bearer(people["support_key"]))
    auth.login("admin@example.com")
    fields = {"agents": [people["support"].id], "date_from": TODAY, "date_to": TODAY}
    response = client.get("/analytics", query_string={**fields, "channels": ["a"] * 20_000})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Pick at most" not in page and "1 counted dialog" in page
    response = client.get("/analytics", query_string={**fields, "channels": ["a", "b", "c"]})
    assert "Pick at most 2 channels, or none for all of them." in response.get_data(as_text=True)


def test_an_account_may_ask_for_so_many_exports_an_hour(app, client, auth, people):
    app.config["EXPORT_MAX_PER_HOUR"] = 2
    auth.login("analyst@example.com")
    for day in ("2026-03-01", "2026-03-02"):
        form = {"agents": [people["support"].id], "date_from": day, "date_to": day, "action": "export"}
        auth.post("/analytics", form)
    form = {"agents": [people["support"].id], "date_from": "2026-03-03", "date_to": "2026-03-03", "action": "export"}
    page = client.get(auth.post("/analytics", form).location).get_data(as_text=True)
    assert "You have asked for 2 exports in the last hour, the most allowed. You can ask again from" in page
    with app.app_context():
        assert ExportRequest.select().count() == 2


@pytest.mark.parametrize("field", ["dialog_id", "channel", "slot", "sender"])
@pytest.mark.parametrize("control", ["\n", "\r", "\t", "\x1b", "\u2028"])
def test_names_with_control_characters_are_refused(field, control):
    item = {**event("d1", "user", "2026-01-01T00:00:00+00:00", slot="s", channel="web"), field: f"a{control}b"}
    _, errors = rules.validate_events([item], rules.Limits())
    assert {"index": 0, "field": field,
            "message": "must not contain control characters (line breaks, tabs and the like)"} in errors


def test_texts_may_have_line_breaks_but_slot_names_may_not():
    limits = rules.Limits()
    _, errors = rules.validate_events([event("d1", "bot", "2026-01-01T00:00:00+00:00", text="two\nlines")], limits)
    assert errors == []
    slot = {"key": "k", "name": "Ask\nagain", "type": "question", "text": "Line one\nline two"}
    _, errors = rules.validate_slots([slot], limits)
    assert [e["field"] for e in errors] == ["name"]


SLOT = {"key": "ask", "name": "Ask", "type": "question", "text": "Why?"}
LONG_NAME, LONG_TEXT = "n" * 201, "t" * 20_001


@pytest.mark.parametrize(
    "field, value, words",
    [(field, "a\x00b", "must not contain NUL characters") for field in SLOT]
    + [(field, "a\ud800", "lone surrogate") for field in SLOT]
    + [(field, "a\nb", "must not contain control characters") for field in ("key", "name", "type")]
    + [(field, LONG_NAME, "must be at most 200 characters") for field in ("key", "name", "type")]
    + [("text", LONG_TEXT, "must be at most 20000 characters")],
)
def test_a_slot_list_is_held_to_the_rules_of_events(app, client, people, field, value, words):
    response = client.put(
        "/api/v1/slots", data=json.dumps([{**SLOT, field: value}]), content_type="application/json",
        headers=bearer(people["support_key"]),
    )
    assert response.status_code == 400
    assert response.json == [{"index": 0, "field": field, "message": response.json[0]["message"]}]
    assert words in response.json[0]["message"]
    with app.app_context():
        assert Slot.select().count() == 0


class DescribingSource:
    """An importer's source whose slot catalogue says more than the API would take."""

    unit = "events"

    def __init__(self, catalogue, events):
        self.slot_catalogue, self.events = catalogue, events
        self.done, self.total = 0, len(events)

    def __iter__(self):
        for number, payload in enumerate(self.events, start=1):
            self.done = number
            yield Item(f"event {number}", payload)


@pytest.mark.parametrize("broken", [
    {"name": "Ask\x00"}, {"type": "question\x00"}, {"type": "q" * 201}, {"name": "Ask\nagain"}, {"type": " "},
])
def test_what_an_importer_says_about_a_slot_is_held_to_the_same_rules(app, people, broken):
    """A slot description that breaks a rule is left out; the slot is created by its key, the events stored."""
    catalogue = {"ask": rules.SlotIn(**{**SLOT, **broken}), "bye": rules.SlotIn("bye", "Bye", "message", "")}
    events = [event("d1", "bot", "2026-01-01T00:00:00+00:00", slot=key) for key in ("ask", "bye")]
    with app.app_context():
        outcome = write_events(people["support"], DescribingSource(catalogue, events), app.config)
        assert (outcome.imported, outcome.skipped) == (2, 0)
        slots = sorted(Slot.select(Slot.key, Slot.name, Slot.type, Slot.text).tuples())
    assert slots == [("ask", "ask", "unknown", ""), ("bye", "Bye", "message", "")]


def test_agent_names_with_control_characters_are_refused(app, client, auth, runner, people):
    auth.login("admin@example.com")
    response = auth.post("/admin/agents", {"name": "Bot\r\nBcc: x@example.com"}, form_page="/admin/")
    assert response.status_code == 400
    assert "The name must not contain control characters" in response.get_data(as_text=True)
    result = runner.invoke(args=["create-agent", "Bot\nX"])
    assert result.exit_code == 1 and "must not contain control characters" in result.output


def test_account_emails_with_control_characters_are_refused(app, client, auth, people):
    auth.login("admin@example.com")
    fields = {"email": "new@example.com\r\nBcc: x@example.com", "password": "long enough password"}
    response = auth.post("/admin/accounts", fields, form_page="/admin/")
    assert response.status_code == 400 and "contains invalid characters" in response.get_data(as_text=True)


def test_a_log_line_cannot_be_forged(client, caplog):
    logger = logging.getLogger("slotlens")
    logger.propagate = True
    try:
        with caplog.at_level("INFO", logger="slotlens"):
            client.get("/x%0A2026-11-28 10:00:00 INFO event=request method=GET path=/admin account=1")
    finally:
        logger.propagate = False
    (line,) = {r.getMessage() for r in caplog.records if "event=request" in r.getMessage()}
    assert "\n" not in line and 'path="/x\\n2026-11-28 10:00:00' in line
