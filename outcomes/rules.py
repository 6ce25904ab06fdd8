"""An agent's outcome rules: an ordered list, the first rule that matches a counted
dialog gives its outcome (SPEC "Outcomes"). A rule is an outcome and one condition
on the dialog's path. Rules arrive from a YAML file (`set-outcomes`), the agent
page's form or the stored JSON, all in the same shape:

    - {outcome: Escalated, reaches_type: handover}
    - {outcome: Completed, ends_at: [order_done, thanks]}
    - {outcome: Failed, shows: fallback, times: 2}

`check` refuses anything else with every mistake named, so that bad rules never
replace good ones.
"""
import json
from dataclasses import dataclass

import yaml
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from languages.formats import ngettext
from outcomes import LABELS

# URL value -> label, in the order of the Outcomes report's rows
OUTCOMES = {
    "completed": "Completed",
    "escalated": "Escalated",
    "failed": "Failed",
    "abandoned": "Abandoned",
    "in-progress": "In progress",
}
MATCHED = ("completed", "escalated", "failed")  # what a rule can give; the other two follow the clock
ENDED_BADLY = ("failed", "abandoned")  # the drop-offs, once an agent has rules
CONDITIONS = {  # the rule's key -> how the agent page says it
    "reaches": _l("reaches"),
    "ends_at": _l("ends at"),
    "reaches_type": _l("reaches a slot of type"),
    "shows": _l("shows"),
}


@dataclass(frozen=True)
class Rule:
    outcome: str  # a MATCHED key
    condition: str  # a CONDITIONS key
    keys: tuple = ()  # the slot keys of reaches, ends_at (any of them) and shows (one)
    type: str = ""  # reaches_type
    times: int = 1  # shows: at least this many events naming the slot

    def as_dict(self):
        """The rule as its YAML and JSON form has it."""
        found = {"outcome": OUTCOMES[self.outcome]}
        if self.condition == "reaches_type":
            found["reaches_type"] = self.type
        elif self.condition == "shows":
            found.update(shows=self.keys[0], times=self.times)
        else:
            found[self.condition] = self.keys[0] if len(self.keys) == 1 else list(self.keys)
        return found

    def in_words(self, slot_names):
        """"Completed when it ends at Thanks or Order placed", the slots by name."""
        names = [slot_names.get(key, key) for key in self.keys]
        outcome = LABELS[self.outcome]
        if self.condition == "reaches_type":
            return _("%(outcome)s when the dialog reaches a slot of type %(type)s", outcome=outcome, type=self.type)
        if self.condition == "shows":
            return ngettext("%(outcome)s when the dialog shows %(slot)s at least %(num)s time",
                            "%(outcome)s when the dialog shows %(slot)s at least %(num)s times",
                            self.times, outcome=outcome, slot=names[0])
        slots = (" %s " % _("or")).join(names)
        if self.condition == "ends_at":
            return _("%(outcome)s when the dialog ends at %(slots)s", outcome=outcome, slots=slots)
        return _("%(outcome)s when the dialog reaches %(slots)s", outcome=outcome, slots=slots)


class RulesError(ValueError):
    """Rules that cannot be used; `messages` names every mistake."""

    def __init__(self, messages):
        super().__init__("; ".join(messages))
        self.messages = messages


def check(items, slot_types, where=None):
    """The `Rule`s of a list of rule mappings, or RulesError naming every mistake.
    `slot_types` maps the agent's slot keys to their types; `where[i]` says where
    item i came from ("line 3"), "rule 3" by default."""
    if not isinstance(items, list):
        raise RulesError([_("the rules must be a list, one item per rule (each line starting with '- ')")])
    messages, rules = [], []
    for index, item in enumerate(items):
        place = where[index] if where else _("rule %(num)s", num=index + 1)
        try:
            rules.append(_rule(item, slot_types))
        except RulesError as mistake:
            messages += [f"{place}: {message}" for message in mistake.messages]
    if messages:
        raise RulesError(messages)
    return rules


def _rule(item, slot_types):
    if not isinstance(item, dict):
        raise RulesError([_("a rule is a mapping such as {outcome: Completed, ends_at: thanks}")])
    messages = []
    outcome = _outcome(item.get("outcome"), messages)
    conditions = [name for name in CONDITIONS if name in item]
    unknown = [str(name) for name in item if name not in CONDITIONS and name not in ("outcome", "times")]
    shape = []
    if unknown:
        shape.append(_("unknown condition %(names)s (use reaches, ends_at, reaches_type or shows)", names=", ".join(map(repr, unknown))))
    elif len(conditions) != 1:
        shape.append(_("give exactly one condition: reaches, ends_at, reaches_type or shows"))
    if "times" in item and conditions != ["shows"]:
        shape.append(_("times goes with shows only"))
    if shape:
        raise RulesError(messages + shape)
    try:
        rule = _condition(outcome, conditions[0], item, slot_types)
    except RulesError as mistake:
        raise RulesError(messages + mistake.messages) from None
    if messages:
        raise RulesError(messages)
    return rule


def _condition(outcome, condition, item, slot_types):
    value = item[condition]
    if condition == "reaches_type":
        if not isinstance(value, str) or not value.strip():
            raise RulesError([_("reaches_type takes a slot type, such as handover")])
        if value not in set(slot_types.values()):
            raise RulesError([_("the agent has no slot of type %(type)s", type=repr(value))])
        return Rule(outcome, condition, type=value)
    keys = _keys(condition, value, slot_types)
    if condition == "shows":
        times = item.get("times", 1)
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise RulesError([_("times must be a whole number, 1 or more, not %(value)s", value=repr(times))])
        return Rule(outcome, condition, keys=keys, times=times)
    return Rule(outcome, condition, keys=keys)


def _outcome(value, messages):
    by_label = {label.lower(): key for key, label in OUTCOMES.items() if key in MATCHED}
    if value is None:
        messages.append(_("outcome is missing (Completed, Escalated or Failed)"))
        return None
    key = by_label.get(str(value).strip().lower())
    if key is None:
        follows_clock = str(value).strip().lower() in ("abandoned", "in progress", "in-progress")
        if follows_clock:
            messages.append(_("unknown outcome %(value)s: use Completed, Escalated or Failed (a dialog no rule matches is Abandoned or In progress by itself)",
                              value=repr(value)))
        else:
            messages.append(_("unknown outcome %(value)s: use Completed, Escalated or Failed", value=repr(value)))
    return key


def _keys(condition, value, slot_types):
    keys = [value] if isinstance(value, str) else value
    if condition == "shows" and not isinstance(value, str):
        raise RulesError([_("shows takes one slot key")])
    if not isinstance(keys, list) or not keys or not all(isinstance(key, str) and key for key in keys):
        raise RulesError([{"reaches": _("reaches takes a slot key or a list of slot keys"),
                           "ends_at": _("ends_at takes a slot key or a list of slot keys"),
                           "shows": _("shows takes a slot key or a list of slot keys")}[condition]])
    missing = [key for key in keys if key not in slot_types]
    if missing:
        raise RulesError([_("the agent has no slot %(keys)s", keys=", ".join(map(repr, missing)))])
    return tuple(dict.fromkeys(keys))


def from_yaml(text, slot_types):
    """The rules of a YAML file's text, every mistake named by its line."""
    try:
        items = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as mistake:
        mark = getattr(mistake, "problem_mark", None)
        place = f"line {mark.line + 1}: " if mark else ""
        raise RulesError([f"{place}not valid YAML ({getattr(mistake, 'problem', None) or 'unreadable'})"]) from None
    if items is None:
        items = []
    lines = [f"line {node.start_mark.line + 1}" for node in root.value] if isinstance(root, yaml.SequenceNode) else None
    return check(items, slot_types, where=lines)


def to_yaml(rules):
    """The rules as `show-outcomes` prints them and `set-outcomes` reads them."""
    if not rules:
        return "[]  # no rules: every counted dialog is Abandoned or In progress\n"
    return "".join(
        "- " + yaml.safe_dump(rule.as_dict(), default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6)
        for rule in rules
    )


def to_json(rules):
    return json.dumps([rule.as_dict() for rule in rules])


def from_json(text):
    """Stored rules, as they were checked when saved (slots are never deleted)."""
    return [_stored(item) for item in json.loads(text or "[]")]


def _stored(item):
    outcome = {label: key for key, label in OUTCOMES.items()}[item["outcome"]]
    if "reaches_type" in item:
        return Rule(outcome, "reaches_type", type=item["reaches_type"])
    if "shows" in item:
        return Rule(outcome, "shows", keys=(item["shows"],), times=item["times"])
    condition = "reaches" if "reaches" in item else "ends_at"
    value = item[condition]
    return Rule(outcome, condition, keys=tuple([value] if isinstance(value, str) else value))
