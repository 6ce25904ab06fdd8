"""The rules as SQL: each dialog's outcome is written by one UPDATE whose CASE holds
the agent's rules in order (the first that matches wins), reading the dialog's
stored summary (its stop slot) and slot rows (`DialogSlot`: the slots it reached,
how often each was shown). Ingestion runs it for the dialogs a batch touches, in
the batch's transaction; `outcomes.recompute` runs it for a whole agent.

A dialog no rule matches keeps no outcome: it is `Abandoned` or `In progress` by
the clock (`classified`, `having`), so that time passing rewrites no rows.
"""
from datetime import timedelta

from flask import current_app, has_app_context
from peewee import SQL, Case, Value, fn

from database.bulk import among, chunks, hold_lock
from models import Agent, Dialog, DialogSlot, Slot, utcnow
from outcomes import rules as outcome_rules

DEFAULT_IDLE_MINUTES = 30


def idle_before(now=None):
    """The instant before which a dialog's latest event makes it Abandoned rather
    than In progress (OUTCOME_IDLE_MINUTES before now)."""
    minutes = current_app.config["OUTCOME_IDLE_MINUTES"] if has_app_context() else DEFAULT_IDLE_MINUTES
    return (now or utcnow()) - timedelta(minutes=minutes)


def slot_types(agent):
    """The agent's slot keys and their types, for checking rules (`outcomes.rules.check`)."""
    return dict(Slot.select(Slot.key, Slot.type).where(Slot.agent == agent).tuples())


def after_retyping(agent, types_before):
    """Give their outcome again, in the caller's transaction, to the dialogs that
    reached a slot whose type changed into or out of one a `reaches_type` rule names
    (`PUT /api/v1/slots`, or an importer describing a slot); `types_before` is
    `slot_types` from before the change."""
    hold_lock("outcomes", agent.id, shared=True)  # as ingestion reads the rules (outcomes.recompute)
    rules = stored_rules(agent.id)
    watched = {rule.type for rule in rules if rule.condition == "reaches_type"}
    if not watched:
        return
    retyped = [key for key, kind in slot_types(agent).items() if types_before.get(key) != kind and watched & {types_before.get(key), kind}]
    if retyped:
        slots = Slot.select(Slot.id).where((Slot.agent == agent) & Slot.key.in_(retyped))
        reached = DialogSlot.select(DialogSlot.dialog).where((DialogSlot.agent == agent.id) & DialogSlot.slot.in_(slots)).distinct()
        apply(agent.id, rules, [dialog_id for (dialog_id,) in reached.tuples()])


def stored_rules(agent_id):
    """The agent's rules as stored now (`outcomes.rules.Rule`s)."""
    return outcome_rules.from_json(Agent.select(Agent.outcome_rules).where(Agent.id == agent_id).scalar())


def outcome_case(agent_id, rules):
    """The SQL expression giving a dialog of the agent its outcome (None: no rule
    matches), or None when no rule can match any dialog."""
    whens = [(_condition(rule, ids), Value(rule.outcome)) for rule, ids in zip(rules, _slot_ids(agent_id, rules)) if ids]
    return Case(None, whens) if whens else None


def _condition(rule, slot_ids):
    if rule.condition == "ends_at":
        return Dialog.stop_slot.in_(slot_ids)
    reached = DialogSlot.select(SQL("1")).where((DialogSlot.dialog == Dialog.id) & DialogSlot.slot.in_(slot_ids))
    if rule.condition == "shows":
        reached = reached.where(DialogSlot.times_shown >= rule.times)
    return fn.EXISTS(reached)


def apply(agent_id, rules, dialog_ids):
    """Give these dialogs of the agent the outcome the rules say (their summaries and
    slot rows written first)."""
    case = outcome_case(agent_id, rules)
    for part in chunks(sorted(dialog_ids)):
        Dialog.update(outcome=case).where(among(Dialog.id, part)).execute()


def classified(idle_since):
    """A dialog's outcome key as SQL, Abandoned or In progress by `idle_before`."""
    return Case(None, [
        (Dialog.outcome.is_null(False), Dialog.outcome),
        (Dialog.last_event_at < idle_since, Value("abandoned")),
    ], Value("in-progress"))


def having(outcomes, idle_since):
    """The condition on `Dialog` that its outcome is one of `outcomes` (keys)."""
    matched = [key for key in outcomes if key in outcome_rules.MATCHED]
    parts = [Dialog.outcome.in_(matched)] if matched else []
    if "abandoned" in outcomes:
        parts.append(Dialog.outcome.is_null() & (Dialog.last_event_at < idle_since))
    if "in-progress" in outcomes:
        parts.append(Dialog.outcome.is_null() & (Dialog.last_event_at >= idle_since))
    condition = parts[0]
    for part in parts[1:]:
        condition |= part
    return condition


def restricts(outcomes):
    """Whether an Outcomes filter leaves any dialog out (none, or all five, means all)."""
    return bool(outcomes) and set(outcomes) != set(outcome_rules.OUTCOMES)


def first_matches(agent_id, rules, since):
    """How many of the agent's counted dialogs started at or after `since` each rule
    would take, the first that matches winning, and how many no rule would take:
    ([dialogs per rule], unmatched). The agent page shows this before rules are
    saved; one grouped query over the dialogs, whatever the number of rules."""
    whens = [(_condition(rule, ids), Value(index)) for index, (rule, ids) in enumerate(zip(rules, _slot_ids(agent_id, rules))) if ids]
    taken_by = Case(None, whens) if whens else Value(None)
    dialogs = (
        Dialog.select(taken_by, fn.COUNT(Dialog.id))
        .where((Dialog.agent == agent_id) & Dialog.is_counted & (Dialog.started_at >= since))
        .group_by(SQL("1"))
    )
    counts = dict(dialogs.tuples())
    return [counts.get(index, 0) for index in range(len(rules))], counts.get(None, 0)


def _slot_ids(agent_id, rules):
    """Each rule's slot ids, resolved now: its slots by key, or every slot of its
    type (a rule none of whose slots exist matches nothing)."""
    keys = {key for rule in rules for key in rule.keys}
    types = {rule.type for rule in rules if rule.type}
    slots = Slot.select(Slot.id, Slot.key, Slot.type).where((Slot.agent == agent_id) & (Slot.key.in_(list(keys)) | Slot.type.in_(list(types))))
    by_key, by_type = {}, {}
    for slot_id, key, slot_type in slots.tuples():
        by_key[key] = slot_id
        by_type.setdefault(slot_type, []).append(slot_id)
    return [sorted(by_type.get(rule.type, [])) if rule.condition == "reaches_type" else [by_key[k] for k in rule.keys if k in by_key]
            for rule in rules]
