"""Slot funnel and Slot paths equal an independent recount from the raw events,
on hand-made edge cases and on random data, on SQLite and PostgreSQL."""
import collections
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from peewee import JOIN

from ingest import rules, writer
from models import Dialog, Event, Slot
from reporting import periods
from reporting.kinds import slot_funnel, slot_paths
from tests.conftest import make_agent
from tests.test_ingestion_equivalence import reference, stored

DAY = date(2026, 3, 1)
SLOTS = [rules.SlotIn(k, k.title(), "message", f"Text of {k}") for k in ("ask", "pay", "bye", "help")]


def at(minutes, day=DAY):
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=10, minutes=minutes)


def ev(dialog, sender, minutes, slot=None, channel="web", day=DAY):
    return rules.EventIn(dialog, channel, sender, slot, None, at(minutes, day))


@pytest.fixture
def agent(app):
    with app.app_context():
        agent = make_agent("Support Bot")[0]
        writer.upsert_slots(agent, SLOTS)
        yield agent


def recount(agent_id, filters, tz_name):
    """Funnel and steps by brute force over every raw event of the agent."""
    start, end = periods.period_bounds(filters.date_from, filters.date_to, tz_name)
    rows = (
        Event.select(Event.id, Event.sender, Event.timestamp, Dialog.id, Dialog.channel, Slot.key)
        .join(Dialog).switch(Event).join(Slot, JOIN.LEFT_OUTER)
        .where(Dialog.agent == agent_id)
        .tuples()
    )
    dialogs = collections.defaultdict(list)
    channel_of = {}
    for event_id, sender, timestamp, dialog_id, channel, key in rows:
        dialogs[dialog_id].append((timestamp, event_id, sender, key))
        channel_of[dialog_id] = channel
    reached, shown, stopped, steps = collections.Counter(), collections.Counter(), collections.Counter(), collections.Counter()
    step_dialogs = collections.defaultdict(set)
    for dialog_id, events in dialogs.items():
        events.sort()
        started = events[0][0]
        if not any(sender == "user" for _, _, sender, _ in events) or not start <= started < end:
            continue
        if filters.channels and channel_of[dialog_id] not in filters.channels:
            continue
        keys = [key for _, _, _, key in events if key]
        path = [key for i, key in enumerate(keys) if i == 0 or keys[i - 1] != key]
        for key in set(path):
            reached[key] += 1
        shown.update(keys)
        stopped[path[-1] if path else None] += 1
        if not path:
            reached[None] += 1
        for step in zip(["(start)", *path], [*path, "(end)"]):
            steps[step] += 1
            step_dialogs[step].add(dialog_id)
    funnel = {key: (reached[key], shown[key], stopped[key]) for key in reached}
    return funnel, {step: (len(step_dialogs[step]), count) for step, count in steps.items()}


def computed(agent_id, filters, tz_name):
    funnel = {s.key: (s.reached, s.times_shown, s.stopped) for s in slot_funnel.funnel(agent_id, filters, tz_name)}
    steps = {
        (s.from_key or s.from_name, s.to_key or s.to_name): (s.dialogs, s.transitions)
        for s in slot_paths.steps(agent_id, filters, tz_name)
    }
    return funnel, steps


def test_hand_made_edge_cases(app, agent):
    batches = [
        [ev("merged", "user", 0), ev("merged", "bot", 1, "ask"), ev("merged", "bot", 2, "ask"), ev("merged", "bot", 3, "pay")],
        [ev("back", "user", 0), ev("back", "bot", 1, "ask"), ev("back", "bot", 2, "pay"), ev("back", "bot", 3, "ask")],
        [ev("late", "bot", 5, "bye"), ev("late", "user", 0)],
        [ev("late", "bot", 2, "ask")],  # arrives after, happened before: out of order
        [ev("late", "bot", 2, "ask")],  # re-sent: no change
        [ev("silent", "user", 0), ev("silent", "bot", 1)],  # no slot at all
        [ev("by-user", "user", 0, "help"), ev("by-system", "user", 0), ev("by-system", "system", 1, "newkey")],
        [ev("tie", "user", 0), ev("tie", "bot", 1, "pay"), ev("tie", "bot", 1, "bye")],  # same instant: arrival decides
        [ev("bots-only", "bot", 0, "ask")],  # not counted
        [ev("telegram", "user", 0, channel="tg"), ev("telegram", "bot", 1, "bye", channel="tg")],
    ]
    for batch in batches:
        writer.ingest_events(agent, batch)
    filters = periods.Filters((agent.id,), DAY, DAY)
    funnel, steps = computed(agent.id, filters, "UTC")
    assert (funnel, steps) == recount(agent.id, filters, "UTC")
    assert funnel["ask"] == (3, 5, 1)  # merged, back and late reached it; shown 2 + 2 + 1 (the re-sent one is not stored)
    assert steps[("ask", "pay")] == (2, 2) and steps[("pay", "ask")] == (1, 1)
    assert steps[("(start)", "(end)")] == (1, 1) and funnel[None] == (1, 0, 1)
    assert steps[("pay", "bye")] == (1, 1), "a tie is broken by arrival order"
    web_only = periods.Filters((agent.id,), DAY, DAY, channels=("web",))
    funnel, steps = computed(agent.id, web_only, "UTC")
    assert (funnel, steps) == recount(agent.id, web_only, "UTC")
    assert funnel["bye"] == (2, 2, 2), "late and tie stop there; the telegram dialog is left out"


def test_random_dialogs_in_a_non_utc_zone(app, agent):
    rng = random.Random(14)
    keys = [s.key for s in SLOTS] + ["unknown-a", "unknown-b"]
    events = []
    for n in range(200):
        day = DAY + timedelta(days=rng.randint(-3, 3))
        channel = rng.choice(["web", "web", "tg"])
        for _ in range(rng.randint(1, 7)):
            sender = rng.choice(["user", "bot", "bot", "system"])
            slot = rng.choice(keys + [None, None]) if sender != "user" or rng.random() < 0.1 else None
            events.append(rules.EventIn(f"d{n}", channel, sender, slot, None, at(rng.randint(-700, 700), day)))
    rng.shuffle(events)
    for start in range(0, len(events), 40):
        writer.ingest_events(agent, events[start : start + 40])
    writer.ingest_events(agent, events[:100])  # re-sent
    week = periods.Filters((agent.id,), DAY - timedelta(days=3), DAY + timedelta(days=3))
    for filters, tz_name in (
        (periods.Filters((agent.id,), DAY, DAY), "Europe/Berlin"),  # no whole UTC day in it
        (periods.Filters((agent.id,), DAY, DAY + timedelta(days=1), ("tg",)), "Europe/Berlin"),
        (week, "America/New_York"),
        (week, "Asia/Kolkata"),  # half-hour offset
        (week, "UTC"),  # whole days only
    ):
        assert computed(agent.id, filters, tz_name) == recount(agent.id, filters, tz_name), tz_name


def test_daily_totals_kept_by_ingestion_equal_a_plain_count_of_the_events(app, agent):
    """Out-of-order, re-sent and later-counted dialogs move between days and slots;
    what ingestion added and subtracted must equal counting the raw events afresh
    (`test_ingestion_equivalence.reference`, which shares no code with ingestion)."""
    rng = random.Random(17)
    keys = [s.key for s in SLOTS]
    events = [
        rules.EventIn(f"d{rng.randint(0, 60)}", "web", rng.choice(["user", "bot", "bot"]), rng.choice(keys + [None]),
                          None, at(rng.randint(-3000, 3000)))
        for _ in range(600)
    ]
    for start in range(0, len(events), 25):
        writer.ingest_events(agent, events[start : start + 25])
    kept, expected = stored(), reference(events)
    assert kept["reach_totals"] == expected["reach_totals"] and kept["reach_totals"]
    assert kept["step_totals"] == expected["step_totals"] and kept["step_totals"]


def test_rows_have_rates_and_shares(app, agent):
    writer.ingest_events(agent, [ev("a", "user", 0), ev("a", "bot", 1, "ask"), ev("a", "bot", 2, "pay"),
                                    ev("b", "user", 0), ev("b", "bot", 1, "ask"), ev("c", "user", 0)])
    filters = periods.Filters((agent.id,), DAY, DAY)
    rows, counted = slot_funnel.build(agent.id, filters, "UTC")
    assert counted == 3
    assert rows == [
        ["ask", "Ask", "message", "Text of ask", 2, 2, 1, Decimal("50.00"), Decimal("66.67")],
        ["", "(no slot)", "", "", 1, 0, 1, Decimal("100.00"), Decimal("33.33")],
        ["pay", "Pay", "message", "Text of pay", 1, 1, 1, Decimal("100.00"), Decimal("33.33")],
    ]
    rows, counted = slot_paths.build(agent.id, filters, "UTC")
    assert counted == 3
    assert rows == [
        ["", "(start)", "ask", "Ask", 2, 2, Decimal("66.67")],
        ["", "(start)", "", "(end)", 1, 1, Decimal("33.33")],  # ties: by from-name, then to-name
        ["ask", "Ask", "", "(end)", 1, 1, Decimal("50.00")],
        ["ask", "Ask", "pay", "Pay", 1, 1, Decimal("50.00")],
        ["pay", "Pay", "", "(end)", 1, 1, Decimal("100.00")],
    ]
