"""The dialogs behind a number: for random streams (out of order, re-sent, two
channels, dialogs without slots, repeated slots) in random periods, time zones and
channel filters, every number of the three previews equals the total of the list
its selector opens, and that list holds exactly the dialogs a plain Python reference
picks from the same events. The paging walks the whole list, newest first."""
import collections
import os
import random
import uuid
from datetime import date, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import writer
from models import Dialog
from reporting import dialog_lists, periods, transcripts
from reporting.dialog_lists import NONE, Selector, SelectorError, parse_selector
from reporting.kinds import slot_funnel, slot_paths, stop_slots
from tests.conftest import make_agent
from tests.test_ingestion_equivalence import random_stream

settings.register_profile(
    "ci", derandomize=True, max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile("dev", max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

ZONES = ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kathmandu", "Pacific/Kiritimati"]


def reference_paths(stream):
    """Each dialog's (channel, start, counted, path), plainly: first copy of each event, in
    timestamp then arrival order."""
    kept, seen = collections.defaultdict(list), set()
    for arrival, event in enumerate(stream):
        if (event.dialog_id, event.fingerprint) not in seen:
            seen.add((event.dialog_id, event.fingerprint))
            kept[event.dialog_id].append((event.timestamp, arrival, event))
    result = {}
    for dialog, items in kept.items():
        events = [event for _, _, event in sorted(items, key=lambda item: item[:2])]
        path = [event.slot for event in events if event.slot]
        result[dialog] = (events[0].channel, events[0].timestamp, any(e.sender == "user" for e in events), path)
    return result


def reference_list(dialogs, filters, tz_name, selector):
    """The external ids of the dialogs the selector picks from the population."""
    start, end = periods.period_bounds(filters.date_from, filters.date_to, tz_name)
    picked = set()
    for dialog, (channel, started, counted, path) in dialogs.items():
        if not (counted and start <= started < end and (not filters.channels or channel in filters.channels)):
            continue
        merged = [slot for i, slot in enumerate(path) if i == 0 or path[i - 1] != slot]
        steps = set(zip(["(start)"] + merged, merged + ["(end)"]))
        stop = path[-1] if path else NONE
        if selector.stop_slot is not None and stop != selector.stop_slot:
            continue
        if selector.reached is not None and selector.reached not in (path or [NONE]):
            continue
        if selector.from_slot is not None and (selector.from_slot, selector.to_slot) not in steps:
            continue
        picked.add(dialog)
    return picked


def whole_list(filters, tz_name, selector, size):
    """(total, external ids newest first) walking every page Older, then back Newer."""
    page = dialog_lists.dialog_page(filters, tz_name, selector, size=size)
    pages = [page]
    while page.older:
        page = dialog_lists.dialog_page(filters, tz_name, selector, older_than=page.older, size=size)
        pages.append(page)
    rows = [row for p in pages for row in p.rows]
    assert [(r.started_at, r.id) for r in rows] == sorted(((r.started_at, r.id) for r in rows), reverse=True)
    back = [pages[-1]]
    while back[-1].newer:
        back.append(dialog_lists.dialog_page(filters, tz_name, selector, newer_than=back[-1].newer, size=size))
    assert [row.id for p in reversed(back) for row in p.rows] == [row.id for row in rows], "Newer retraces Older"
    assert {p.total for p in pages} == {page.total}
    return page.total, [row.external_id for row in rows]


def preview_numbers(agent_id, filters, tz_name):
    """(selector, number) for every dialog count the three previews show."""
    for count in stop_slots.stop_slot_counts(agent_id, filters, tz_name):
        yield Selector(stop_slot=count.key or NONE), count.dialogs
    for step in slot_funnel.funnel(agent_id, filters, tz_name):
        yield Selector(reached=step.key or NONE), step.reached
        yield Selector(stop_slot=step.key or NONE), step.stopped
    for step in slot_paths.steps(agent_id, filters, tz_name):
        yield Selector(from_slot=step.from_key or "(start)", to_slot=step.to_key or "(end)"), step.dialogs


@given(
    seed=st.integers(0, 10_000),
    dialogs=st.sampled_from([3, 30, 120]),
    tz_name=st.sampled_from(ZONES),
    first=st.integers(0, 2),
    days=st.integers(0, 2),
    channels=st.sampled_from([(), ("web",), ("tg",), ("web", "tg")]),
    page_size=st.sampled_from([1, 7, 50]),
)
def test_every_preview_number_is_the_total_of_its_list(app, database_url, seed, dialogs, tz_name, first, days, channels, page_size):
    rng = random.Random(seed)
    agent = make_agent(f"Bot {uuid.uuid4().hex[:8]}")[0]
    other = make_agent(f"Other {uuid.uuid4().hex[:8]}")[0]  # same keys and dialog ids: must not leak into the list
    stream = random_stream(rng, dialogs=dialogs, events=dialogs * 6, ties=rng.random() < 0.5)
    sent = stream[: len(stream) // 2] + stream[len(stream) // 2 :][::-1]  # the second half out of order
    writer.ingest_events(agent, sent[: len(stream) // 2])
    writer.ingest_events(agent, sent[len(stream) // 2 :])
    writer.ingest_events(other, random_stream(rng, dialogs=10, events=60))
    date_from = date(2026, 2, 28) + timedelta(days=first)
    filters = periods.Filters((agent.id,), date_from, date_from + timedelta(days=days), channels)
    reference = reference_paths(sent)
    numbers = list(preview_numbers(agent.id, filters, tz_name))
    for selector, number in numbers:
        total, listed = whole_list(filters, tz_name, selector, page_size)
        assert total == number == len(listed), selector
        assert set(listed) == reference_list(reference, filters, tz_name, selector), selector
    everyone = reference_list(reference, filters, tz_name, Selector())
    assert whole_list(filters, tz_name, Selector(), page_size)[0] == len(everyone)
    assert sum(n for s, n in numbers if s.stop_slot is not None) == 2 * len(everyone)  # stop slots and funnel


@pytest.mark.parametrize(
    "args, message",
    [
        ({"from_slot": "a"}, "A step needs both from_slot and to_slot."),
        ({"stop_slot": "a", "reached": "b"}, "Choose at most one"),
        ({"stop_slot": "a", "from_slot": "a", "to_slot": "b"}, "Choose at most one"),
        ({"from_slot": "(end)", "to_slot": "a"}, "from_slot takes a slot key or (start)"),
        ({"reached": "(start)"}, "stop_slot and reached take a slot key or (none)"),
        ({"stop_slot": " "}, "A selector needs a slot key."),
    ],
)
def test_a_selector_that_cannot_be_answered_is_refused_in_words(args, message):
    with pytest.raises(SelectorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_selector(args)


def test_an_unknown_slot_key_is_refused_in_words(app):
    agent = make_agent("Keys Bot")[0]
    filters = periods.Filters((agent.id,), date(2026, 3, 1), date(2026, 3, 1))
    with pytest.raises(SelectorError, match="No slot with the key 'nope'"):
        dialog_lists.dialog_page(filters, "UTC", Selector(reached="nope"))


def test_a_page_keeps_its_place_when_new_dialogs_arrive(app):
    agent = make_agent("Paging Bot")[0]
    stream = random_stream(random.Random(3), dialogs=12, events=80, ties=False)
    writer.ingest_events(agent, stream)
    filters = periods.Filters((agent.id,), date(2026, 3, 1), date(2026, 3, 2))
    first = dialog_lists.dialog_page(filters, "UTC", Selector(), size=5)
    second = dialog_lists.dialog_page(filters, "UTC", Selector(), older_than=first.older, size=5)
    newest = max(Dialog.select(), key=lambda d: (d.started_at, d.id))
    late = newest.started_at.replace(minute=59)
    writer.ingest_events(agent, [msgspec.structs.replace(e, dialog_id=f"late-{n}", sender="user", timestamp=late) for n, e in enumerate(stream[:4])])
    again = dialog_lists.dialog_page(filters, "UTC", Selector(), older_than=first.older, size=5)
    assert [r.id for r in again.rows] == [r.id for r in second.rows]
    assert again.total > second.total


@pytest.mark.parametrize(
    "selector, marked",
    [
        (Selector(reached="b"), {2, 3, 5}),
        (Selector(stop_slot="b"), {5}),
        (Selector(stop_slot=NONE), set()),
        (Selector(from_slot="a", to_slot="b"), {1, 2, 4, 5}),
        (Selector(from_slot="(start)", to_slot="a"), {1}),
        (Selector(from_slot="b", to_slot="(end)"), {5}),
        (Selector(), set()),
    ],
)
def test_a_transcript_marks_the_lines_its_selector_points_at(selector, marked):
    slots = [None, "a", "b", "b", "a", "b", None]  # path a, b, b, a, b: merged a → b → a → b
    found = [transcripts.Line(None, "bot", key, key, "") for key in slots]
    assert transcripts.highlighted(found, selector) == marked
