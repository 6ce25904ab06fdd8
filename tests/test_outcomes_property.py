"""Outcomes against a plain Python reference (issue 29).

From the raw events alone the reference gives each counted dialog its path (slots in
timestamp-then-arrival order), stop slot, times each slot was shown and latest event,
and so its outcome by the SPEC's rules: the first rule that matches, else Abandoned
once the latest event is more than OUTCOME_IDLE_MINUTES (30) old and In progress
before that. Random streams (re-sent events, arrival out of order over several
batches, dialogs without slots or without the user, two channels, events on both
sides of the idle limit) and random rule lists (0–4 rules of all four conditions,
keys of slots no dialog reached among them), set before ingestion and changed after
it (while batches still arrive and the recomputation runs a few dialogs at a time),
must give every dialog the reference's outcome, and every report's numbers per
Outcomes filter (Outcomes, Stop slots, funnel reached/stopped/lost, paths, the
dialog lists' totals and members) must equal the reference restricted to those
dialogs. On PostgreSQL, writers in threads ingest while another thread changes the
rules and recomputes.

Two cases the reference once found wanting are pinned down at the end: an
importer's slot description that gives a slot the type a `reaches_type` rule names,
and a recomputation batch of old rules overtaken by the newer rules'.
"""
import collections
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from database import db
from ingest import rules, writer
from models import Dialog, utcnow
from outcomes import evaluation, recompute
from outcomes import rules as outcome_rules
from outcomes.rules import OUTCOMES
from reporting import dialog_lists, periods
from reporting.dialog_lists import NONE, Selector
from reporting.kinds import outcomes as outcomes_report
from reporting.kinds import slot_funnel, slot_paths, stop_slots
from tests.conftest import make_agent
from tests.test_dialog_lists import reference_list, reference_paths

_CI = os.environ.get("HYPOTHESIS_PROFILE", "dev") == "ci"
PROPERTY = settings(
    derandomize=_CI, max_examples=15 if _CI else 10, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONCURRENT = settings(
    derandomize=_CI, max_examples=3 if _CI else 2, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

IDLE = timedelta(minutes=evaluation.DEFAULT_IDLE_MINUTES)  # OUTCOME_IDLE_MINUTES, default 30
# The agent's catalogue: `never` and `spare` are reached by no dialog; events also
# name `extra1`/`extra2`, which ingestion creates with type `unknown`.
CATALOGUE = {"greet": "message", "ask": "question", "pay": "question", "human": "handover", "bye": "message",
             "never": "handover", "spare": "unknown"}
EVENT_KEYS = ["greet", "ask", "pay", "human", "bye", "extra1", "extra2"]
TYPES = {**CATALOGUE, "extra1": "unknown", "extra2": "unknown"}
LABELS = ["Completed", "Escalated", "Failed"]
ZONES = ["UTC", "Europe/Berlin", "Asia/Kathmandu"]
CHANNELS = [(), ("web",), ("tg",), ("web", "tg")]


# --- the reference ---------------------------------------------------------------------

@dataclass(frozen=True)
class Plain:
    channel: str
    started: object
    counted: bool
    path: list  # every slot-naming event's slot, in timestamp then arrival order (not merged)
    last: object  # the latest event's instant
    outcome: str  # an OUTCOMES key (only meaningful for a counted dialog)


def as_list(value):
    return [value] if isinstance(value, str) else list(value)


def plain_outcome(path, last, rule_items, now, types=TYPES):
    """The SPEC's outcome of a dialog, from rule mappings as the YAML has them and the
    slots' types (key -> type) as they are now."""
    shown = collections.Counter(path)
    for rule in rule_items:
        if "reaches" in rule:
            matched = any(key in path for key in as_list(rule["reaches"]))
        elif "ends_at" in rule:
            matched = bool(path) and path[-1] in as_list(rule["ends_at"])
        elif "reaches_type" in rule:
            matched = any(types[key] == rule["reaches_type"] for key in path)
        else:
            matched = shown[rule["shows"]] >= rule.get("times", 1)
        if matched:
            return rule["outcome"].lower().replace(" ", "-")
    return "abandoned" if now - last > IDLE else "in-progress"


def plain(sent, rule_items, now, types=TYPES):
    """dialog external id -> `Plain`, from the events as sent (in arrival order)."""
    last = {}
    for event in sent:
        last[event.dialog_id] = max(last.get(event.dialog_id, event.timestamp), event.timestamp)
    return {
        dialog: Plain(channel, started, counted, path, last[dialog], plain_outcome(path, last[dialog], rule_items, now, types))
        for dialog, (channel, started, counted, path) in reference_paths(sent).items()
    }


def population(dialogs, filters, tz_name):
    """The counted dialogs of the period on the channels with the outcomes (none: all)."""
    start, end = periods.period_bounds(filters.date_from, filters.date_to, tz_name)
    return {
        dialog: d for dialog, d in dialogs.items()
        if d.counted and start <= d.started < end
        and (not filters.channels or d.channel in filters.channels)
        and (not filters.outcomes or d.outcome in filters.outcomes)
    }


def plain_numbers(chosen, has_rules):
    """(outcome counts, stop slots, funnel, paths) of a population, plainly."""
    counts = collections.Counter(d.outcome for d in chosen.values())
    stops = collections.Counter(d.path[-1] if d.path else None for d in chosen.values())
    reached, shown, lost = collections.Counter(), collections.Counter(), collections.Counter()
    steps, step_dialogs = collections.Counter(), collections.Counter()
    for d in chosen.values():
        stop = d.path[-1] if d.path else None
        if not has_rules or d.outcome in ("failed", "abandoned"):
            lost[stop] += 1
        reached.update(set(d.path) if d.path else {None})
        shown.update(d.path)
        merged = [key for i, key in enumerate(d.path) if i == 0 or d.path[i - 1] != key]
        pairs = list(zip(["(start)"] + merged, merged + ["(end)"]))
        steps.update(pairs)
        step_dialogs.update(set(pairs))
    funnel = {key: (reached[key], shown[key], stops[key], lost[key]) for key in reached}
    return counts, dict(stops), funnel, {step: (step_dialogs[step], n) for step, n in steps.items()}


# --- what Slotlens says ----------------------------------------------------------------

def stored_outcomes(agent):
    """Every counted dialog's outcome key as Slotlens classifies it now."""
    outcome = evaluation.classified(evaluation.idle_before())
    query = Dialog.select(Dialog.external_id, outcome).where((Dialog.agent == agent.id) & (Dialog.is_counted == True))  # noqa: E712
    return dict(query.tuples())


def slotlens_numbers(agent, filters, tz_name):
    rows, counted = outcomes_report.build(agent.id, filters, tz_name)
    labels = {label: key for key, label in OUTCOMES.items()}
    assert [row[0] for row in rows] == list(OUTCOMES.values()) and counted == sum(row[1] for row in rows)
    counts = collections.Counter({labels[label]: dialogs for label, dialogs, _ in rows if dialogs})
    stops = {c.key: c.dialogs for c in stop_slots.stop_slot_counts(agent.id, filters, tz_name)}
    funnel = {s.key: (s.reached, s.times_shown, s.stopped, s.lost) for s in slot_funnel.funnel(agent.id, filters, tz_name)}
    steps = {
        (s.from_key or s.from_name, s.to_key or s.to_name): (s.dialogs, s.transitions)
        for s in slot_paths.steps(agent.id, filters, tz_name)
    }
    return counts, stops, funnel, steps


def check(agent, sent, rule_items, now, filters_list, tz_name, types=TYPES):
    """Every counted dialog's outcome, and every number per Outcomes filter, against the reference."""
    dialogs = plain(sent, rule_items, now, types)
    assert stored_outcomes(agent) == {dialog: d.outcome for dialog, d in dialogs.items() if d.counted}
    for filters in filters_list:
        chosen = population(dialogs, filters, tz_name)
        assert slotlens_numbers(agent, filters, tz_name) == plain_numbers(chosen, bool(rule_items)), filters
        as_paths = {dialog: (d.channel, d.started, d.counted, d.path) for dialog, d in chosen.items()}
        reached = {key for d in dialogs.values() for key in d.path}  # the agent has these slots
        selectors = [Selector(), Selector(stop_slot=NONE), Selector(reached=NONE)]
        selectors += [Selector(stop_slot=key) for key in sorted(reached)] + [Selector(reached=key) for key in sorted(reached)]
        selectors += [
            Selector(from_slot=a, to_slot=b)
            for d in chosen.values()
            for a, b in zip(["(start)"] + d.path, d.path + ["(end)"]) if a != b
        ]
        for selector in dict.fromkeys(selectors):
            page = dialog_lists.dialog_page(filters, tz_name, selector, size=10_000)
            expected = reference_list(as_paths, filters, tz_name, selector)
            assert (page.total, {row.external_id for row in page.rows}) == (len(expected), expected), (filters, selector)


# --- random streams and rules ----------------------------------------------------------

def near_now(rng, now, dialogs, events, ties):
    """Events of `dialogs` dialogs in random arrival order, some re-sent. Each dialog is
    old (every event more than 34 minutes ago), recent (every event within the last 26)
    or both; no event falls within 4 minutes of the idle limit, so the clock moving on
    while the test runs changes no outcome. With `ties`, instants are whole minutes
    (arrival order decides); without, no two events of a dialog share one."""
    shape = {d: rng.choice(["old", "old", "recent", "both"]) for d in range(dialogs)}
    start = {d: rng.randrange(34 * 60, 3 * 24 * 3600) for d in range(dialogs)}  # seconds before now
    channel = {d: rng.choice(["web", "tg"]) for d in range(dialogs)}
    slotless = {d: rng.random() < 0.15 for d in range(dialogs)}
    silent = {d: rng.random() < 0.1 for d in range(dialogs)}  # never the user: not counted
    stream, instants = [], set()
    for n in range(events):
        d = rng.randrange(dialogs)
        recent = shape[d] == "recent" or (shape[d] == "both" and rng.random() < 0.3)
        ago = rng.randrange(0, 26 * 60) if recent else max(34 * 60, start[d] - rng.randrange(0, 40 * 60))
        if ties:
            ago = ago - ago % 60 if recent else ago + (-ago) % 60
        else:  # no two events of a dialog at the same instant (ties are broken by arrival)
            ago += rng.randrange(1000) / 1000
            while (d, ago) in instants:
                ago += 0.001
            instants.add((d, ago))
        sender = rng.choice(["bot", "bot", "system"] if silent[d] else ["user", "bot", "bot", "system"])
        slot = None
        if not slotless[d] and (sender != "user" or rng.random() < 0.1):
            slot = rng.choice(EVENT_KEYS + [None])
        text = rng.choice([None, "hi", f"message {n % 3}"])
        stream.append(rules.EventIn(f"dialog-{d}", channel[d], sender, slot, text, now - timedelta(seconds=ago)))
        if rng.random() < 0.12:
            stream.append(rng.choice(stream))  # re-sent
    return stream


def cut(rng, stream):
    """The stream in batches of random sizes, a few batches sent twice."""
    batches, start = [], 0
    while start < len(stream):
        size = rng.choice([1, 4, 15, 60])
        batches.append(stream[start : start + size])
        start += size
        if rng.random() < 0.1:
            batches.append(batches[rng.randrange(len(batches))])
    return batches


def rule_items(keys, types):
    """Lists of 0–4 rule mappings, in the YAML's shape, over these slot keys and types."""
    key_or_keys = st.one_of(st.sampled_from(keys), st.lists(st.sampled_from(keys), min_size=1, max_size=3))
    condition = st.one_of(
        st.builds(lambda k: {"reaches": k}, key_or_keys),
        st.builds(lambda k: {"ends_at": k}, key_or_keys),
        st.builds(lambda t: {"reaches_type": t}, st.sampled_from(types)),
        st.builds(lambda k, n: {"shows": k, "times": n}, st.sampled_from(keys), st.integers(1, 4)),
    )
    rule = st.builds(lambda outcome, found: {"outcome": outcome, **found}, st.sampled_from(LABELS), condition)
    return st.lists(rule, max_size=4)


def random_rule_items(rng, keys, types):
    """The same, from a `random.Random` (for the thread that changes rules)."""
    items = []
    for _ in range(rng.randint(0, 4)):
        condition = rng.choice(["reaches", "ends_at", "reaches_type", "shows"])
        item = {"outcome": rng.choice(LABELS)}
        if condition == "reaches_type":
            item[condition] = rng.choice(types)
        elif condition == "shows":
            item.update(shows=rng.choice(keys), times=rng.randint(1, 4))
        else:
            item[condition] = rng.sample(keys, rng.randint(1, 3)) if rng.random() < 0.5 else rng.choice(keys)
        items.append(item)
    return items


def save_rules(agent, items):
    """Check the rule mappings against the agent's slots as `set-outcomes` does and
    store them; returns the rules version to recompute."""
    return recompute.save(agent, outcome_rules.check(items, recompute.slot_types(agent)))


def new_agent():
    agent = make_agent(f"Outcomes Bot {uuid.uuid4().hex[:8]}")[0]
    writer.upsert_slots(agent, [rules.SlotIn(key, key.title(), kind, f"Text of {key}") for key, kind in CATALOGUE.items()])
    return agent


outcome_filters = st.lists(st.lists(st.sampled_from(list(OUTCOMES)), unique=True, max_size=5), min_size=1, max_size=2)


@PROPERTY
@given(
    data=st.data(),
    seed=st.integers(0, 10_000),
    dialogs=st.sampled_from([3, 20, 60]),
    ties=st.booleans(),
    before=rule_items(sorted(CATALOGUE), sorted(set(CATALOGUE.values()))),
    tz_name=st.sampled_from(ZONES),
    first=st.integers(0, 3),
    days=st.integers(0, 3),
    channels=st.sampled_from(CHANNELS),
    chosen=outcome_filters,
    batch_size=st.sampled_from([1, 3, 50]),
)
def test_outcomes_and_every_number_per_outcome_equal_a_plain_reference(
    app, database_url, data, seed, dialogs, ties, before, tz_name, first, days, channels, chosen, batch_size,
):
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    agent = new_agent()
    other = new_agent()  # the same dialog ids and keys, other rules: must not leak
    save_rules(other, [{"outcome": "Failed", "reaches_type": "message"}])
    writer.ingest_events(other, near_now(rng, now, dialogs=5, events=30, ties=False))

    date_from = (now - timedelta(days=3)).date() + timedelta(days=first)
    filters_list = [periods.Filters((agent.id,), date_from, date_from + timedelta(days=days), channels, tuple(o)) for o in chosen]
    filters_list.append(periods.Filters((agent.id,), date_from, date_from + timedelta(days=days), channels))

    # rules set before ingestion
    recompute.recompute(agent.id, save_rules(agent, before))
    stream = near_now(rng, now, dialogs=dialogs, events=dialogs * 6, ties=ties)
    batches = cut(rng, stream)
    half = len(batches) // 2
    sent = [event for batch in batches[:half] for event in batch]
    for batch in batches[:half]:
        writer.ingest_events(agent, batch)
    check(agent, sent, before, now, filters_list, tz_name)

    # rules changed after ingestion, while batches still arrive and the recomputation
    # goes a few dialogs at a time
    keys = sorted(recompute.slot_types(agent))
    after = data.draw(rule_items(keys, sorted(set(recompute.slot_types(agent).values()))), label="after")
    version = save_rules(agent, after)
    rest = batches[half:]
    saved_batch = recompute.BATCH
    recompute.BATCH = batch_size
    try:
        while True:
            if rest and rng.random() < 0.5:
                writer.ingest_events(agent, rest[0])
                sent += rest.pop(0)
            if not recompute.recompute_batch(agent.id, version):
                break
    finally:
        recompute.BATCH = saved_batch
    assert recompute.progress(agent) is None
    for batch in rest:
        writer.ingest_events(agent, batch)
        sent += batch
    check(agent, sent, after, now, filters_list, tz_name)


@CONCURRENT
@given(seed=st.integers(0, 10_000))
def test_concurrent_writers_and_rule_changes_leave_the_outcomes_of_the_final_rules(app, database_url, seed):
    """Three writers ingest batches for the same dialogs (re-sending each other's events)
    while a fourth thread saves new rules three times, recomputing a few dialogs of each
    version at a time (the last one to the end); afterwards every outcome is the final
    rules'. PostgreSQL only: SQLite serialises every writer. (A second recomputing thread,
    as a report's `recompute.finish` is, can lose to the race that
    `test_an_old_recomputation_batch_…` below makes certain, so there is none here.)"""
    if not database_url.startswith("postgres"):
        pytest.skip("real concurrency needs PostgreSQL")
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    agent = new_agent()
    stream = near_now(rng, now, dialogs=60, events=600, ties=False)  # no ties: arrival order between writers is unknown
    shares = [cut(random.Random(seed + n), stream[n::3] + stream[: 60 * n]) for n in range(3)]
    lists = [random_rule_items(rng, sorted(CATALOGUE), sorted(set(CATALOGUE.values()))) for _ in range(3)]
    steps = [rng.randint(0, 6) for _ in lists]
    pauses = [rng.random() * 0.05 for _ in lists]
    start = threading.Barrier(len(shares) + 1)

    def write(batches):
        with db.connection_context():
            start.wait()
            for batch in batches:
                writer.ingest_events(agent, batch)

    def change_rules():
        with db.connection_context():
            start.wait()
            for n, items in enumerate(lists):
                time.sleep(pauses[n])
                version = save_rules(agent, items)
                if n < len(lists) - 1:  # an old version's recomputation left part done
                    for _ in range(steps[n]):
                        recompute.recompute_batch(agent.id, version)
            recompute.recompute(agent.id, version)

    saved_batch = recompute.BATCH
    recompute.BATCH = 7
    try:
        with ThreadPoolExecutor(len(shares) + 1) as threads:
            done = [threads.submit(write, share) for share in shares] + [threads.submit(change_rules)]
            for future in done:
                future.result()  # a thread's error, if any
    finally:
        recompute.BATCH = saved_batch
    assert recompute.progress(agent) is None
    sent = [event for share in shares for batch in share for event in batch]
    date_from = (now - timedelta(days=3)).date()
    filters_list = [
        periods.Filters((agent.id,), date_from, date_from + timedelta(days=4)),
        periods.Filters((agent.id,), date_from, date_from + timedelta(days=4), outcomes=("completed", "abandoned")),
        periods.Filters((agent.id,), date_from, date_from + timedelta(days=4), outcomes=("in-progress", "failed", "escalated")),
    ]
    check(agent, sent, lists[-1], now, filters_list, "UTC")


# --- the two cases the properties found wanting ----------------------------------------

def at(now, minutes_ago, dialog, sender, slot=None):
    return rules.EventIn(dialog, "web", sender, slot, None, now - timedelta(minutes=minutes_ago))


def test_an_importer_typing_a_slot_gives_the_dialogs_that_reached_it_the_outcome(app):
    now = utcnow().replace(microsecond=0)
    agent = new_agent()
    items = [{"outcome": "Escalated", "reaches_type": "handover"}]
    recompute.recompute(agent.id, save_rules(agent, items))
    before = [at(now, 90, "a", "user"), at(now, 89, "a", "bot", "extra1")]  # extra1 created as 'unknown'
    writer.ingest_events(agent, before)
    later = [at(now, 60, "b", "user"), at(now, 59, "b", "bot", "greet")]
    writer.ingest_events(agent, later, described=[rules.SlotIn("extra1", "Extra one", "handover", "")])
    assert recompute.slot_types(agent)["extra1"] == "handover"
    date_from = (now - timedelta(days=1)).date()
    check(agent, before + later, items, now, [periods.Filters((agent.id,), date_from, date_from + timedelta(days=2))], "UTC",
          types={**TYPES, "extra1": "handover"})  # dialog a reaches a handover slot now: Escalated (it stays Abandoned)


class PausedBeforeLocking:
    """`recompute.Dialog`, whose first `select` (the batch's, just after the agent's rules
    version was read and just before the batch's dialogs are locked) runs `meanwhile` first."""

    def __init__(self, meanwhile):
        self.meanwhile = meanwhile

    def __getattr__(self, name):
        return getattr(Dialog, name)

    def select(self, *fields):
        if self.meanwhile:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return Dialog.select(*fields)


def test_an_old_recomputation_batch_does_not_overwrite_the_newer_rules_outcomes(app, database_url, monkeypatch):
    """The interleaving behind `test_concurrent_writers_…` made certain: a worker recomputing
    rules v1 has read the agent's row when the rules are saved again (v2) and another worker
    (or a report's `finish`) recomputes v2 through every dialog; then the first worker goes on.
    Saving waits for the old batch (it holds the shared outcomes lock), so whichever order
    the two take, the newer rules' outcomes are the last written. PostgreSQL only: on
    SQLite the first worker's transaction holds the write lock throughout."""
    if not database_url.startswith("postgres"):
        pytest.skip("needs two writers at once")
    now = utcnow().replace(microsecond=0)
    agent = new_agent()
    events = [event for n in range(5) for event in (at(now, 90, f"d{n}", "user"), at(now, 89, f"d{n}", "bot", "greet"))]
    writer.ingest_events(agent, events)
    first = [{"outcome": "Completed", "reaches": "greet"}]
    final = [{"outcome": "Failed", "reaches": "greet"}]
    version = save_rules(agent, first)

    def other_worker():
        with db.connection_context():
            recompute.recompute(agent.id, save_rules(agent, final))

    thread = threading.Thread(target=other_worker)

    def newer_rules_saved_and_recomputed():
        thread.start()
        thread.join(timeout=3)  # done by then unless saving waits for this batch, as it must

    monkeypatch.setattr(recompute, "Dialog", PausedBeforeLocking(newer_rules_saved_and_recomputed))
    recompute.recompute_batch(agent.id, version)
    monkeypatch.undo()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert recompute.progress(agent) is None and evaluation.stored_rules(agent.id)[0].outcome == "failed"
    date_from = (now - timedelta(days=1)).date()
    check(agent, events, final, now, [periods.Filters((agent.id,), date_from, date_from + timedelta(days=2))], "UTC")
