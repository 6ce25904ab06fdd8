"""An agent's headline figures for a period beside the period before: what a
subscription's email ends with (SPEC: counted dialogs, and Containment and
Completion where the agent has outcome rules)."""
from dataclasses import dataclass, replace

from flask_babel import lazy_gettext as _l

from comparison.changes import of_count, of_rate, percent
from comparison.periods import calendar_period_before, comparison_in_words
from languages import formats
from reporting.kinds import outcomes, stop_slots

COUNTED, CONTAINMENT, COMPLETION = _l("Counted dialogs"), _l("Containment"), _l("Completion")


@dataclass(frozen=True)
class Figure:
    label: str  # in the language of the email being written
    value: str  # as shown: "412", "61.40%" ("61,40 %" in Russian)
    change: object  # comparison.changes.Change

    @property
    def before(self):
        """The value before, as shown: "380", "58.20%", "–" without dialogs."""
        was = self.change.before
        if was is None:
            return "\u2013"
        return formats.number(was) if isinstance(was, int) else formats.percent(was, 2)


def counted(agent_id, filters, tz_name):
    return sum(count.dialogs for count in stop_slots.stop_slot_counts(agent_id, filters, tz_name))


def headline_changes(agent_id, filters, tz_name):
    """('23–29 Nov vs 16–22 Nov', [Figure]) for the agent's dialogs of `filters`
    against the period before (`calendar_period_before`: the month before a month)."""
    first, last = calendar_period_before(filters.date_from, filters.date_to)
    before = replace(filters, agent_ids=(agent_id,), date_from=first, date_to=last)
    now = replace(filters, agent_ids=(agent_id,))
    words = comparison_in_words((now.date_from, now.date_to), (first, last))
    if not outcomes.has_rules(agent_id):
        total, total_before = counted(agent_id, now, tz_name), counted(agent_id, before, tz_name)
        return words, [Figure(COUNTED, formats.number(total), of_count(total, total_before))]
    counts, earlier = outcomes.counts_by(agent_id, now, tz_name), outcomes.counts_by(agent_id, before, tz_name)
    total, total_before = sum(counts.values()), sum(earlier.values())
    contained, contained_before = outcomes.contained(counts), outcomes.contained(earlier)
    return words, [
        Figure(COUNTED, formats.number(total), of_count(total, total_before)),
        Figure(CONTAINMENT, _percent_text(contained, total), of_rate(contained, total, contained_before, total_before)),
        Figure(COMPLETION, _percent_text(counts["completed"], total), of_rate(counts["completed"], total, earlier["completed"], total_before)),
    ]


def _percent_text(hits, total):
    rate = percent(hits, total)
    return "–" if rate is None else formats.percent(rate, 2)
