"""The fast path in (`ingest.decoding`) accepts exactly what the careful path
accepts, with the same events; whatever it does not take, the careful path
judges. Random mutations of valid batches probe every rule."""
import json
import random

import pytest

from blueprints.api import ApiError, parse_json
from ingest import decoding, rules

LIMITS = rules.Limits(batch=50, name=40, text=200)
VALID = {"dialog_id": "d-1", "channel": "web", "sender": "bot", "slot": "ask_size", "text": "Which size?",
         "timestamp": "2026-05-01T14:03:00+02:00"}

MUTATIONS = [
    lambda e: e.pop("dialog_id"),
    lambda e: e.update(channel=None),
    lambda e: e.update(channel="  "),
    lambda e: e.update(sender="operator"),
    lambda e: e.update(sender=7),
    lambda e: e.update(slot=None),
    lambda e: e.update(slot=""),
    lambda e: e.pop("slot"),
    lambda e: e.pop("text"),
    lambda e: e.update(text=None),
    lambda e: e.update(text=""),
    lambda e: e.update(text="x" * 201),
    lambda e: e.update(text="line one\nline two\ttab"),
    lambda e: e.update(text="nul \x00 inside"),
    lambda e: e.update(dialog_id="x" * 41),
    lambda e: e.update(dialog_id="tab\there"),
    lambda e: e.update(slot="new\nline"),
    lambda e: e.update(slot="del\x7f"),
    lambda e: e.update(channel="web\x85"),  # a control character beyond ASCII
    lambda e: e.update(dialog_id="d\u2028"),
    lambda e: e.update(text="ünïcode \x00 and a NUL"),
    lambda e: e.update(dialog_id="üñí©ødé ✓"),
    lambda e: e.update(timestamp="2026-05-01T14:03:00"),
    lambda e: e.update(timestamp="2026-05-01 14:03:00Z"),
    lambda e: e.update(timestamp="2026-05-01T14:03:00.123456789+00:00"),
    lambda e: e.update(timestamp="1969-12-31T23:59:59+00:00"),
    lambda e: e.update(timestamp="2099-12-31T23:30:00-05:00"),
    lambda e: e.update(timestamp="0001-01-01T00:00:00+01:00"),
    lambda e: e.update(timestamp="yesterday"),
    lambda e: e.update(extra="field"),
    lambda e: e.update(text="sender"),  # a value spelled like a key
]


def careful(raw):
    """What the careful path makes of a body: (events, errors)."""
    try:
        return rules.validate_events(parse_json(raw), LIMITS)
    except ApiError as exc:
        return [], exc.errors


def random_batch(rng):
    batch = []
    for n in range(rng.randint(0, 8)):
        event = dict(VALID, dialog_id=f"d-{n % 3}")
        for mutation in rng.sample(MUTATIONS, rng.choice([0, 0, 0, 1, 2])):
            mutation(event)
        batch.append(event)
    return batch


@pytest.mark.parametrize("seed", range(300))
def test_fast_path_accepts_what_the_careful_path_accepts(seed):
    rng = random.Random(seed)
    batch = random_batch(rng)
    raw = json.dumps(batch, ensure_ascii=rng.random() < 0.5).encode()
    fast = decoding.decode_batch(raw, LIMITS)
    events, errors = careful(raw)
    if fast is not None:
        assert errors == [] and fast == events
    if not errors and all(not isinstance(e, dict) or e.get("text") != "sender" for e in batch):
        assert fast is not None, "a plain valid batch takes the fast path"


@pytest.mark.parametrize("raw", [
    b'[{"dialog_id": "a", "dialog_id": "b", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z"}]',
    b'[{"dialog_id": "a", "dialog\\u005fid": "b", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z"}]',
    b'[{"slot": "a", "slot": "b", "dialog_id": "a", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z"}]',
    b'[{"slot": null, "dialog_id": "a", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z", "slot": null}]',
    b'[{"text": "say \\"hi\\"", "dialog_id": "a", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z", "sender": "user"}]',
    b'[{"dialog_id": "a", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z", "text": "\\ud800"}]',
    b'[{"dialog_id": "a", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z", "text": "\xc3\xbc \\u0000"}]',
    b'[{"dialog_id": "a", "channel": "w\xc2\x85", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z"}]',
    b'[{"dialog_id": "a", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z"}] trailing',
    b'[{"dialog_id": "a", "channel": "w", "sender": "bot", "timestamp": "2026-05-01T14:03:00Z", "text": NaN}]',
    b'\xef\xbb\xbf[]',
    b'{"dialog_id": "a"}',
])
def test_bodies_the_careful_path_rejects_never_pass_the_fast_path(raw):
    assert careful(raw)[1], "the careful path rejects it"
    assert decoding.decode_batch(raw, LIMITS) is None


def line(**changes):
    return json.dumps(dict(VALID, **changes)).encode()


@pytest.mark.parametrize("lines", [
    [line(), line()[:-1], b'"more": 1}'],  # one object over two lines
    [line() + b", " + line(), line()],  # two objects on one line
    [line(), b"[" + line() + b"]"],
    [line(), b"not json"],
])
def test_json_lines_are_one_event_each_or_judged_one_by_one(lines):
    assert decoding.decode_lines(lines, LIMITS) is None


def test_plain_json_lines_take_the_fast_path():
    lines = [line(dialog_id=f"d{n}") + b"\r\n" for n in range(3)]
    assert [e.dialog_id for e in decoding.decode_lines(lines, LIMITS)] == ["d0", "d1", "d2"]


@pytest.mark.parametrize("seed", range(300))
def test_importers_payloads_take_the_fast_path_only_where_the_careful_path_accepts(seed):
    """`decode_items`: the payloads an importer builds (dicts) against `validate_events`."""
    rng = random.Random(seed)
    batch = random_batch(rng)
    fast = decoding.decode_items(batch, LIMITS)
    events, errors = rules.validate_events(batch, LIMITS)
    if fast is not None:
        assert errors == [] and fast == events
    if not errors:
        assert fast is not None, "a valid run of payloads takes the fast path"
