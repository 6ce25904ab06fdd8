"""The ingestion API as a bot meets it: keys, validation, all-or-nothing, idempotence."""
import pytest

from models import Dialog, Event, Slot
from tests.conftest import event

T0 = "2026-03-01T10:00:00+00:00"


def post_events(client, key, payload, **kwargs):
    return client.post("/api/v1/events", json=payload, headers={"Authorization": f"Bearer {key}"}, **kwargs)


def put_slots(client, key, payload):
    return client.put("/api/v1/slots", json=payload, headers={"Authorization": f"Bearer {key}"})


def stored(app):
    with app.app_context():
        return Event.select().count(), Dialog.select().count()


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic abc", "Bearer ", "sl_only-the-key"])
def test_wrong_or_missing_key_is_401(client, people, header):
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/events", json=[], headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json[0]["message"]


def test_events_are_stored_and_counted(app, client, people):
    response = post_events(client, people["support_key"], [event("d1", "user", T0, slot="greet")])
    assert response.status_code == 200
    assert response.json == {"received": 1, "stored": 1, "duplicates": 0}
    with app.app_context():
        slot = Slot.get(Slot.key == "greet")
        assert (slot.name, slot.type) == ("greet", "unknown")  # created from an unknown key
        dialog = Dialog.get()
        assert dialog.is_counted and dialog.stop_slot_id == slot.id


@pytest.mark.parametrize(
    "bad_event, field, words",
    [
        ({"dialog_id": "d", "channel": "web", "sender": "bot"}, "timestamp", "is required"),
        ({"dialog_id": "d", "channel": "web", "sender": "robot", "timestamp": T0}, "sender", "must be one of"),
        ({"dialog_id": "d", "channel": "web", "sender": "user", "timestamp": "2026-03-01T10:00:00"}, "timestamp", "UTC offset"),
        ({"dialog_id": "d", "channel": "web", "sender": "user", "timestamp": "yesterday"}, "timestamp", "ISO 8601"),
        ({"dialog_id": "d", "channel": "web", "sender": "user", "timestamp": "1900-01-01T00:00:00Z"}, "timestamp", "between"),
        ({"dialog_id": 5, "channel": "web", "sender": "user", "timestamp": T0}, "dialog_id", "must be a string"),
        ({"dialog_id": " ", "channel": "web", "sender": "user", "timestamp": T0}, "dialog_id", "must not be empty"),
        ({"dialog_id": "d", "channel": "web", "sender": "user", "timestamp": T0, "slot": ["x"]}, "slot", "must be a string"),
        ({"dialog_id": "d", "channel": "web", "sender": "user", "timestamp": T0, "txt": "hi"}, "txt", "unknown field"),
        ({"dialog_id": "d" * 201, "channel": "web", "sender": "user", "timestamp": T0}, "dialog_id", "at most 200"),
        ("not an object", None, "JSON object"),
        ({"dialog_id": "d", "channel": "web", "sender": "user", "timestamp": T0, "text": "a\x00b"}, "text", "NUL"),
        ({"dialog_id": "d\ud800", "channel": "web", "sender": "user", "timestamp": T0}, "dialog_id", "lone surrogate"),
    ],
)
def test_a_bad_event_rejects_the_whole_batch(app, client, people, bad_event, field, words):
    good = event("good", "user", T0, slot="s")
    response = post_events(client, people["support_key"], [good, bad_event])
    assert response.status_code == 400
    errors = response.json
    assert any(e["index"] == 1 and e["field"] == field and words in e["message"] for e in errors), errors
    assert stored(app) == (0, 0)


@pytest.mark.parametrize(
    "body, words",
    [
        (b"{not json", "not valid JSON"),
        (b'{"a": 1}', "JSON list"),
        (b"\xff\xfe", "the body is not valid UTF-8 (byte 1)"),
        (
            b'[{"dialog_id": "d\xff", "channel": "web", "sender": "user", "timestamp": "2026-01-01T00:00:00Z"}]',
            "the body is not valid UTF-8 (byte 18)",
        ),
        (b'[{"dialog_id": "d", "dialog_id": "e"}]', "duplicate key"),
        (b'[{"dialog_id": NaN}]', "NaN"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_bodies_get_400_with_a_reason(app, client, people, body, words):
    response = client.post(
        "/api/v1/events",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {people['support_key']}"},
    )
    assert response.status_code == 400
    assert words in response.json[0]["message"]
    assert stored(app) == (0, 0)


def test_too_large_a_body_is_413(app, client, people):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = post_events(client, people["support_key"], [event(f"d{i}", "user", T0) for i in range(100)])
    assert response.status_code == 413
    assert response.json[0]["message"]
    assert stored(app) == (0, 0)


def test_too_many_events_in_one_batch_is_400(app, client, people):
    app.config["API_MAX_BATCH"] = 5
    response = post_events(client, people["support_key"], [event(f"d{i}", "user", T0) for i in range(6)])
    assert response.status_code == 400
    assert "at most 5 events" in response.json[0]["message"]


def test_a_dialog_keeps_its_channel(app, client, people):
    key = people["support_key"]
    assert post_events(client, key, [event("d1", "user", T0, channel="web")]).status_code == 200
    response = post_events(client, key, [event("d2", "user", T0), event("d1", "bot", T0, channel="telegram")])
    assert response.status_code == 400
    assert response.json == [{"index": 1, "field": "channel", "message": "dialog 'd1' is stored on channel 'web'"}]
    assert stored(app) == (1, 1)  # d2 was not written either
    within_batch = post_events(client, key, [event("d3", "user", T0), event("d3", "bot", T0, channel="app")])
    assert within_batch.status_code == 400 and within_batch.json[0]["field"] == "channel"


def test_resent_and_out_of_order_batches_give_the_same_summary(app, client, people):
    key = people["support_key"]
    early = [event("d1", "user", "2026-03-01T10:00:00+00:00", slot="a")]
    late = [event("d1", "bot", "2026-03-01T12:00:00+02:00", slot="b")]  # 10:00 UTC as well: a tie
    later = [event("d1", "bot", "2026-03-01T10:05:00Z", slot="c")]
    for batch in (later, late, early, later, early):  # out of order, and re-sent
        assert post_events(client, key, batch).status_code == 200
    with app.app_context():
        dialog = Dialog.get()
        assert dialog.stop_slot.key == "c"
        assert str(dialog.started_at) == "2026-03-01 10:00:00"
        assert Event.select().count() == 3
    response = post_events(client, key, early + late)
    assert response.json == {"received": 2, "stored": 0, "duplicates": 2}


def test_timestamp_ties_go_to_the_later_arrival(app, client, people):
    key = people["support_key"]
    post_events(client, key, [event("d1", "user", T0, slot="first"), event("d1", "bot", T0, slot="second")])
    with app.app_context():
        assert Dialog.get().stop_slot.key == "second"


def test_an_empty_text_and_no_text_stay_apart_in_a_new_dialog(app, client, people):
    """A new dialog's events are appended in bulk (COPY on PostgreSQL, whose CSV reads
    an empty value as NULL): an empty text stays empty, a missing one stays missing, and
    the ties among them keep their arrival order."""
    events = [event("d1", "user", T0, text="Hello"), event("d1", "bot", T0, slot="ask", text=""), event("d1", "bot", T0, slot="last")]
    assert post_events(client, people["support_key"], events).json["stored"] == 3
    with app.app_context():
        assert [e.text for e in Event.select().order_by(Event.id)] == ["Hello", "", None]
        assert Dialog.get().stop_slot.key == "last"


def test_slots_are_upserted_by_key(app, client, people):
    key = people["support_key"]
    first = put_slots(client, key, [{"key": "greet", "name": "Greeting", "type": "message", "text": "Hi,\n\"you\""}])
    assert first.json == {"created": 1, "updated": 0}
    second = put_slots(
        client, key, [{"key": "greet", "name": "Hello", "type": "message"}, {"key": "ask", "name": "Ask", "type": "question"}]
    )
    assert second.json == {"created": 1, "updated": 1}
    with app.app_context():
        greet = Slot.get(Slot.key == "greet")
        assert (greet.name, greet.text) == ("Hello", "")
        assert Slot.select().count() == 2


@pytest.mark.parametrize(
    "payload, field, words",
    [
        ([{"key": "a", "name": "A"}], "type", "is required"),
        ([{"key": "a", "name": "A", "type": "t"}, {"key": "a", "name": "B", "type": "t"}], "key", "appears twice"),
        ([{"key": "a", "name": "A", "type": "t", "text": 1}], "text", "must be a string"),
        ({"key": "a"}, None, "JSON list"),
    ],
)
def test_bad_slot_lists_are_rejected_whole(app, client, people, payload, field, words):
    response = put_slots(client, people["support_key"], payload)
    assert response.status_code == 400
    assert any(e["field"] == field and words in e["message"] for e in response.json)
    with app.app_context():
        assert Slot.select().count() == 0


def test_an_agent_key_writes_only_to_its_agent(app, client, people):
    post_events(client, people["sales_key"], [event("d1", "user", T0, slot="x")])
    with app.app_context():
        assert Dialog.get().agent_id == people["sales"].id
