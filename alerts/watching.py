"""What an alert watches: a rate of each of its agents (each slot's exit rate, or
Containment, or Completion) in a period and the period before; which changes
crossed its threshold is a pure rule (`crossed`)."""
import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from access.visibility import visible_agents
from comparison import changes, statistics
from comparison.periods import in_words, previous_period
from languages.formats import number
from models import Agent
from outcomes import recompute
from reporting import periods
from reporting.kinds import outcomes, slot_funnel

WATCHES = {"exit-rate": _l("Exit rate of each slot"), "containment": _l("Containment"), "completion": _l("Completion")}
DIRECTIONS = {"rises": _l("Rises by"), "falls": _l("Falls by")}
# An alert's rule in words (`threshold_words`), one sentence per direction.
THRESHOLDS = {"rises": _l("%(watch)s rises by at least %(points)s pp"), "falls": _l("%(watch)s falls by at least %(points)s pp")}


@dataclass(frozen=True)
class Rate:
    """One watched rate of an agent: `hits` of `total` dialogs now, and before."""

    agent_id: int
    agent: str
    slot_key: str | None  # the slot of an exit rate; None for Containment and Completion
    slot: str | None
    hits: int
    total: int
    hits_before: int
    total_before: int


@dataclass(frozen=True)
class Finding:
    """A change that crossed an alert's threshold, as its email shows it."""

    agent_id: int
    agent: str
    slot_key: str | None
    slot: str | None
    before: float  # percent
    after: float  # percent
    change: str  # "+3.20 pp"
    dialogs: int  # the rate's denominator now
    dialogs_before: int
    behind: int  # the dialogs behind the change now: the losses at the slot, the escalated, the not completed


def crossed(rate, direction, threshold, min_dialogs, only_significant):
    """Did `rate` move in `direction` ("rises"/"falls") by at least `threshold`
    hundredths of a point (inclusive, exactly), with at least `min_dialogs` in both
    periods' denominators and, when `only_significant`, significantly?"""
    if min(rate.total, rate.total_before) < max(min_dialogs, 1):
        return False
    delta = changes.points(rate.hits, rate.total, rate.hits_before, rate.total_before)
    if (delta if direction == "rises" else -delta) < Fraction(threshold, 100):
        return False
    return not only_significant or statistics.is_significant(rate.hits, rate.total, rate.hits_before, rate.total_before)


def finding(rate, watch):
    change = changes.of_rate(rate.hits, rate.total, rate.hits_before, rate.total_before)
    behind = rate.hits if watch == "exit-rate" else rate.total - rate.hits
    return Finding(rate.agent_id, rate.agent, rate.slot_key, rate.slot, change.before, changes.percent(rate.hits, rate.total),
                   change.text, rate.total, rate.total_before, behind)


def exit_rates(agent, now, before, tz_name):
    """(each slot's exit rate: lost of reached, `slot_funnel`, for the slots reached
    now; counted dialogs now; counted dialogs before)."""
    steps, earlier = slot_funnel.funnel(agent.id, now, tz_name), slot_funnel.funnel(agent.id, before, tz_name)
    was = {step.key: step for step in earlier}
    rates = [Rate(agent.id, agent.name, step.key, step.name, step.lost, step.reached,
                  was[step.key].lost if step.key in was else 0, was[step.key].reached if step.key in was else 0)
             for step in steps if step.key is not None]
    return rates, slot_funnel.counted(steps), slot_funnel.counted(earlier)


def outcome_rates(agent, now, before, tz_name, watch):
    """([Containment (not Escalated) or Completion (Completed) of all counted
    dialogs]; counted dialogs now; counted dialogs before)."""
    counts, earlier = outcomes.counts_by(agent.id, now, tz_name), outcomes.counts_by(agent.id, before, tz_name)

    def hits(found):
        return outcomes.contained(found) if watch == "containment" else found["completed"]

    total, total_before = sum(counts.values()), sum(earlier.values())
    return [Rate(agent.id, agent.name, None, None, hits(counts), total, hits(earlier), total_before)], total, total_before


def evaluate(alert, first_day, last_day, tz_name):
    """(findings, notes) of the alert for first_day..last_day against the period
    before: the changes that crossed its threshold, and, in words, the agents that
    had no data (or, for an outcome rate, no outcome rules) in either period. Agents
    the account no longer sees are left out."""
    before_days = previous_period(first_day, last_day)
    channels = tuple(sorted(json.loads(alert.channels)))
    wanted = json.loads(alert.agents)
    agents = list(visible_agents(alert.account).where(Agent.id.in_(wanted)))  # access is checked at each check
    findings, notes = [], []
    hidden = Agent.select(Agent.name).where(Agent.id.in_([i for i in wanted if i not in {a.id for a in agents}])).order_by(Agent.name)
    notes.extend(_("%(agent)s is no longer shared with you", agent=agent.name) for agent in hidden)
    for agent in agents:
        recompute.finish(agent.id)  # outcomes current for the agent's rules, as before any report
        now = periods.Filters((agent.id,), first_day, last_day, channels)
        before = periods.Filters((agent.id,), *before_days, channels)
        if alert.watch != "exit-rate" and not outcomes.has_rules(agent.id):
            notes.append(_("%(agent)s has no outcome rules", agent=agent.name))
            continue
        if alert.watch == "exit-rate":
            rates, counted, counted_before = exit_rates(agent, now, before, tz_name)
        else:
            rates, counted, counted_before = outcome_rates(agent, now, before, tz_name, alert.watch)
        empty = [days for days, dialogs in (((first_day, last_day), counted), (before_days, counted_before)) if not dialogs]
        if empty:
            and_ = _("and")
            said = f" {and_} ".join(in_words(*days) for days in empty)  # not `periods`: the module is used above
            notes.append(_("no data for %(agent)s, %(periods)s", agent=agent.name, periods=said))
            continue
        findings.extend(finding(rate, alert.watch) for rate in rates
                        if crossed(rate, alert.direction, alert.threshold, alert.min_dialogs, alert.only_significant))
    return findings, notes


def to_json(findings):
    return json.dumps([asdict(found) for found in findings])


def from_json(text):
    return [Finding(**found) for found in json.loads(text)]


def threshold_words(alert):
    """E.g. 'Exit rate of each slot rises by at least 2.50 pp', in the language being written."""
    return THRESHOLDS[alert.direction] % {"watch": WATCHES[alert.watch], "points": number(Decimal(alert.threshold) / 100, 2)}
