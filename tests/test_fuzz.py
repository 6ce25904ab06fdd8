"""Property-based attacks on ingestion: whatever arrives, the answer is 2xx or a 4xx
with a JSON error list (never a 5xx), and a rejected batch writes nothing.

Profiles: `ci` (fixed seed, more examples; set by .ci/run) and `dev` (the default).
"""
import json
import os
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peewee import JOIN

from models import Dialog, Event, Slot

settings.register_profile(
    "ci", derandomize=True, max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

nasty_text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    st.sampled_from(["\x00", "=cmd|' /C calc'!A0", "<script>", "../../etc/passwd", "\u202e", "", " "]),
    st.text(min_size=190, max_size=260),  # around the length limits
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # no offset
    st.sampled_from(["2026-03-01T10:00:00Z", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "2026-02-30T00:00Z"]),
    nasty_text,
)


def maybe(strategy):
    return st.one_of(strategy, json_values)


events = st.fixed_dictionaries(
    {
        "dialog_id": maybe(st.sampled_from(["d1", "d2", "d3"]) | nasty_text),
        "channel": maybe(st.sampled_from(["web", "app"])),
        "sender": maybe(st.sampled_from(["user", "bot", "system", "USER"])),
        "timestamp": maybe(timestamps),
    },
    optional={"slot": maybe(st.sampled_from(["greet", "ask"]) | nasty_text), "text": maybe(nasty_text), "extra": json_values},
)
well_formed = st.fixed_dictionaries(  # few values, so that batches repeat events and stored ones
    {
        "dialog_id": st.sampled_from(["d1", "d2", "d3"]),
        "channel": st.just("web"),
        "sender": st.sampled_from(["user", "bot", "system"]),
        "timestamp": st.sampled_from(["2026-03-01T10:00:00Z", "2026-03-01T12:00:00+02:00", "2026-03-01T10:00:01+00:00"]),
    },
    optional={"slot": st.sampled_from(["greet", "ask", ""]), "text": st.sampled_from(["hi", "", "Zoë\nsays hi"])},
)
slots = st.fixed_dictionaries(
    {"key": maybe(st.sampled_from(["greet", "ask"]) | nasty_text), "name": maybe(nasty_text), "type": maybe(nasty_text)},
    optional={"text": maybe(nasty_text)},
)


def counts(app):
    with app.app_context():
        return Event.select().count(), Dialog.select().count(), Slot.select().count()


def check_answer(app, response, before):
    assert response.status_code in (200, 400, 413), response.get_data(as_text=True)[:500]
    body = response.get_json()
    if response.status_code == 200:
        return body
    assert isinstance(body, list) and body
    assert all(set(e) == {"index", "field", "message"} and isinstance(e["message"], str) for e in body)
    assert counts(app) == before, "a rejected batch wrote something"
    return None


def send(client, method, path, key, payload):
    return client.open(
        path,
        method=method,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )


def stored_events(app):
    """Every stored event as (dialog id, sender, slot key, text, instant), one per row."""
    with app.app_context():
        query = Event.select(Dialog.external_id, Event.sender, Slot.key, Event.text, Event.timestamp).join(Dialog).switch(
            Event
        ).join(Slot, JOIN.LEFT_OUTER)
        return list(query.tuples())


def identity(item):
    """What makes an accepted event itself, read from the payload alone."""
    instant = datetime.fromisoformat(item["timestamp"]).astimezone(timezone.utc).replace(tzinfo=None)
    return item["dialog_id"], item["sender"], item.get("slot") or None, item.get("text"), instant


@given(batch=st.lists(events, max_size=6) | st.lists(well_formed, max_size=6) | json_values, again=st.booleans())
def test_events_endpoint_never_fails(app, client, people, batch, again):
    if again and isinstance(batch, list):  # some of the batch stored before
        send(client, "POST", "/api/v1/events", people["support_key"], batch[: len(batch) // 2])
    before, rows_before = counts(app), stored_events(app)
    body = check_answer(app, send(client, "POST", "/api/v1/events", people["support_key"], batch), before)
    if body is not None:
        rows = stored_events(app)
        sent = {identity(item) for item in batch}
        assert sent <= set(rows), "an accepted event is not stored"
        assert len(rows) == len(set(rows)), "an event is stored twice"
        assert body["stored"] == len(rows) - len(rows_before) == len(sent - set(rows_before))
        assert body["duplicates"] == len(batch) - body["stored"] and body["received"] == len(batch)


@given(catalogue=st.lists(slots, max_size=5) | json_values)
def test_slots_endpoint_never_fails(app, client, people, catalogue):
    before = counts(app)
    check_answer(app, send(client, "PUT", "/api/v1/slots", people["support_key"], catalogue), before)


@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_get_an_answer(app, client, people, raw):
    before = counts(app)
    response = client.post(
        "/api/v1/events", data=raw, content_type="application/json", headers={"Authorization": f"Bearer {people['support_key']}"}
    )
    check_answer(app, response, before)


def test_deep_nesting_and_huge_batches(app, client, people):
    before = counts(app)
    deep = b'[{"dialog_id": ' + b"[" * 50_000 + b"]" * 50_000 + b"}]"
    response = client.post("/api/v1/events", data=deep, content_type="application/json",
                           headers={"Authorization": f"Bearer {people['support_key']}"})
    check_answer(app, response, before)
    huge = [{"dialog_id": f"d{i}", "channel": "web", "sender": "user", "timestamp": "2026-03-01T10:00:00Z"} for i in range(100_000)]
    response = send(client, "POST", "/api/v1/events", people["support_key"], huge)
    assert response.status_code in (400, 413)
    check_answer(app, response, before)


@settings(max_examples=25)
@given(lines=st.lists(st.binary(max_size=80) | st.builds(json.dumps, events).map(str.encode), max_size=8))
def test_import_events_never_crashes(app, runner, people, tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("import") / "events.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
    result = runner.invoke(args=["import-events", str(path), "--agent", "Support Bot"])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert "lines skipped" in result.output
