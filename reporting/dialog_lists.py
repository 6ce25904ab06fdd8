"""The dialogs behind a number: the population every report counts (`population`),
narrowed by at most one selector, as a total and a keyset page, newest first.

A selector names what a preview number counts: `stop_slot` (Stop slots `Dialogs`,
funnel `Stopped`), `reached` (funnel `Reached`) or a `from_slot`/`to_slot` step
(paths `Dialogs`). Each reads the per-dialog table that number is summed from
(`Dialog`'s stop slot, `DialogSlot`, `DialogStep`), so that the list's total is the
number by construction, in one set-based query, whatever the period's edges.
"""
import dataclasses
import functools
import json
import operator
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from peewee import JOIN, fn

from models import Agent, Dialog, DialogSlot, DialogStep, Event, Slot
from reporting import periods, population
from reporting.kinds import stop_slots

PAGE_SIZE = 50
NONE, START, END = "(none)", "(start)", "(end)"  # (none): the dialogs that named no slot


class SelectorError(ValueError):
    """A selector the list cannot answer, in words for the user."""


@dataclass(frozen=True)
class Selector:
    """At most one of: a stop slot, a reached slot, or a step (from, to).
    Keys are slot keys, `(none)`, or for a step `(start)` and `(end)`; all None: no selector."""

    stop_slot: str | None = None
    reached: str | None = None
    from_slot: str | None = None
    to_slot: str | None = None


def selector_json(selector):
    """The selector as an export request keeps it: JSON of the keys given ({} for none)."""
    return json.dumps({name: key for name, key in dataclasses.asdict(selector).items() if key is not None}, sort_keys=True)


def selector_from_json(text):
    return Selector(**json.loads(text))


def parse_selector(args):
    """The `Selector` in a query string (a mapping), or `SelectorError` saying why not."""
    given = {name: args.get(name) for name in ("stop_slot", "reached", "from_slot", "to_slot") if args.get(name) is not None}
    step = {"from_slot", "to_slot"} & given.keys()
    if step and step != {"from_slot", "to_slot"}:
        raise SelectorError(_("A step needs both from_slot and to_slot."))
    if len(given) - (1 if step else 0) > 1:
        raise SelectorError(_("Choose at most one of stop_slot, reached, or from_slot with to_slot."))
    if any(not value.strip() for value in given.values()):
        raise SelectorError(_("A selector needs a slot key."))
    if given.get("from_slot") in (END, NONE) or given.get("to_slot") in (START, NONE):
        raise SelectorError(_("from_slot takes a slot key or (start); to_slot takes a slot key or (end)."))
    if {given.get("stop_slot"), given.get("reached")} & {START, END}:
        raise SelectorError(_("stop_slot and reached take a slot key or (none)."))
    return Selector(**given)


@dataclass(frozen=True)
class DialogRow:
    id: int
    external_id: str
    agent: str
    channel: str
    started_at: datetime  # UTC
    messages: int
    stop_slot_key: str | None
    stop_slot_name: str | None


@dataclass(frozen=True)
class Page:
    total: int
    rows: list
    newer: tuple | None  # the keyset (started_at, id) to page newer from, or None at the newest
    older: tuple | None  # the same for older, or None at the oldest


def slot_ids(agent_ids, key):
    """The ids of the slot `key` of these agents; `SelectorError` if none has it."""
    ids = [slot_id for (slot_id,) in Slot.select(Slot.id).where(Slot.agent.in_(list(agent_ids)), Slot.key == key).tuples()]
    if not ids:
        raise SelectorError(_("No slot with the key %(key)s in the chosen agents.", key=repr(key)))
    return ids


def slot_condition(column, agent_ids, key, edge):
    """`column` is the slot `key` (`edge`, a key meaning no slot, is NULL)."""
    return column.is_null() if key == edge else column.in_(slot_ids(agent_ids, key))


def source(filters, tz_name, selector):
    """(model, its dialog id column, condition): the rows of the selector's per-dialog
    table for the population, one row per dialog."""
    start, end = periods.period_bounds(filters.date_from, filters.date_to, tz_name)
    ids = filters.agent_ids

    def in_population(model):
        return functools.reduce(operator.or_, [population.in_range(model, a, filters.channels, start, end, filters.outcomes) for a in ids])

    if selector.reached is not None and selector.reached != NONE:
        return DialogSlot, DialogSlot.dialog, in_population(DialogSlot) & slot_condition(DialogSlot.slot, ids, selector.reached, NONE)
    if selector.from_slot is not None:
        return DialogStep, DialogStep.dialog, (
            in_population(DialogStep)
            & slot_condition(DialogStep.from_slot, ids, selector.from_slot, START)
            & slot_condition(DialogStep.to_slot, ids, selector.to_slot, END)
        )
    condition = in_population(Dialog)
    stop = selector.stop_slot if selector.stop_slot is not None else selector.reached  # reached (none): named no slot
    if stop is not None:
        condition &= slot_condition(Dialog.stop_slot, ids, stop, NONE)
    return Dialog, Dialog.id, condition


def dialog_page(filters, tz_name, selector, newer_than=None, older_than=None, size=PAGE_SIZE):
    """The total and one page (newest first) of the population's dialogs matching the
    selector. `older_than`/`newer_than` is the keyset (started_at, id) the page starts
    after; dialogs that arrive meanwhile do not shift it."""
    found = source(filters, tz_name, selector)
    keys = page_keys(found, newer_than, older_than, size + 1)
    total = list_total(filters, tz_name, selector, found)
    more = len(keys) > size
    rows = rows_of([dialog for _, dialog in (keys[:size] if newer_than is None else keys[-size:])])
    has_newer = more if newer_than is not None else older_than is not None
    has_older = more if newer_than is None else True
    return Page(
        total=total,
        rows=rows,
        newer=(rows[0].started_at, rows[0].id) if rows and has_newer else None,
        older=(rows[-1].started_at, rows[-1].id) if rows and has_older else None,
    )


def list_total(filters, tz_name, selector, found):
    """How many dialogs the list has. Without a selector, every counted dialog: the
    Stop slots report's own total, from the daily totals (a count of a 90-day million
    would read a million index entries); with one, a count over the selector's index."""
    if selector == Selector():
        return sum(count.dialogs for agent_id in filters.agent_ids for count in stop_slots.stop_slot_counts(agent_id, filters, tz_name))
    model, dialog_id, condition = found
    return model.select(fn.COUNT(dialog_id)).where(condition).scalar()


def neighbours(filters, tz_name, selector, keyset):
    """The ids of the dialogs just newer and just older than `keyset` in the list (None at its ends)."""
    found = source(filters, tz_name, selector)
    newer, older = page_keys(found, keyset, None, 1), page_keys(found, None, keyset, 1)
    return (newer[0][1] if newer else None), (older[0][1] if older else None)


def oldest_first(filters, tz_name, selector, batch):
    """Lists of up to `batch` dialog ids, the whole list oldest first, each list one
    keyset query: an export walks any number of dialogs in flat memory."""
    found = source(filters, tz_name, selector)
    after = (datetime.min, 0)
    while keys := page_keys(found, after, None, batch)[::-1]:
        yield [dialog for _, dialog in keys]
        after = keys[-1]


def page_keys(found, newer_than, older_than, limit):
    """Up to `limit` keysets (started_at, id) of a `source` past a keyset, newest first:
    the nearest ones newer than `newer_than`, or else older than `older_than` (or the newest)."""
    model, dialog_id, condition = found
    started = model.started_at
    if older_than is not None:
        condition &= (started < older_than[0]) | ((started == older_than[0]) & (dialog_id < older_than[1]))
    if newer_than is not None:
        condition &= (started > newer_than[0]) | ((started == newer_than[0]) & (dialog_id > newer_than[1]))
    order = [started.asc(), dialog_id.asc()] if newer_than is not None else [started.desc(), dialog_id.desc()]
    keys = list(model.select(started, dialog_id).where(condition).order_by(*order).limit(limit).tuples())
    return keys[::-1] if newer_than is not None else keys


def rows_of(ids):
    """The list's columns for these dialog ids, in their order (messages counted for the page only)."""
    if not ids:
        return []
    messages = Event.select(fn.COUNT(Event.id)).where(Event.dialog == Dialog.id)
    query = (
        Dialog.select(
            Dialog.id, Dialog.external_id, Agent.name, Dialog.channel, Dialog.started_at,
            messages.alias("messages"), Slot.key, Slot.name,
        )
        .join(Agent, on=Dialog.agent == Agent.id)
        .switch(Dialog)
        .join(Slot, JOIN.LEFT_OUTER, on=Dialog.stop_slot == Slot.id)
        .where(Dialog.id.in_(ids))
        .tuples()
    )
    found = {row[0]: DialogRow(*row) for row in query}
    return [found[i] for i in ids]


def slot_namer(agent_ids):
    """`key -> name` for the slots of these agents (the first agent's name when they differ)."""
    def name(key):
        slot = Slot.select(Slot.name).where(Slot.agent.in_(list(agent_ids)), Slot.key == key).order_by(Slot.agent).first()
        return slot.name if slot else key

    return name


def in_words(selector, slot_name):
    """The selector as the list's heading says it; `slot_name(key)` names a slot key."""
    def named(key):
        return {NONE: _("no slot"), START: _("(start)"), END: _("(end)")}.get(key) or slot_name(key)

    if selector.stop_slot is not None:
        if selector.stop_slot == NONE:
            return _("Dialogs that named no slot")
        return _("Dialogs that stopped at %(slot)s", slot=named(selector.stop_slot))
    if selector.reached is not None:
        if selector.reached == NONE:
            return _("Dialogs that named no slot")
        return _("Dialogs that reached %(slot)s", slot=named(selector.reached))
    if selector.from_slot is not None:
        return _("Dialogs that went from %(from_slot)s to %(to_slot)s", from_slot=named(selector.from_slot), to_slot=named(selector.to_slot))
    return _("Counted dialogs")


def in_a_sentence(selector, agent_ids):
    """The selector within a sentence, its slots named as the agents name them: 'dialogs that stopped at Ask order number'."""
    words = in_words(selector, slot_namer(agent_ids))
    return words[0].lower() + words[1:]


def keyset_text(keyset):
    """A keyset (started_at, id) as it goes into a link."""
    return f"{keyset[0].isoformat()}~{keyset[1]}"


def parse_keyset(text):
    """The keyset of a link, or `SelectorError` for one no page gave out."""
    started, _sep, dialog_id = (text or "").partition("~")
    try:
        return datetime.fromisoformat(started), int(dialog_id)
    except ValueError:
        raise SelectorError(_("That page link is damaged; open the list again from its first page.")) from None
