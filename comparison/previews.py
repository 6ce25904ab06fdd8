"""The Analytics preview beside the period before: for each number of an agent's
preview, a `changes.Change` from the same preview computed for the earlier period.
Pure: both previews are plain dicts (`blueprints.analytics`)."""
import collections

from comparison.changes import of_count, of_rate
from reporting.kinds import outcomes


def stops_changes(now, before):
    """Counted dialogs, and each bar's slot's dialogs and share, by slot key."""
    return dict(
        total=of_count(now["total"], before["total"]),
        dialogs={key: of_count(now["counts"][key], before["counts"].get(key, 0)) for key in now["keys"]},
        share={key: of_rate(now["counts"][key], now["total"], before["counts"].get(key, 0), before["total"]) for key in now["keys"]},
        **rate_changes(now, before),
    )


def funnel_changes(now, before):
    """Counted dialogs, and each slot's reached, stopped and exit rate, by slot key."""
    earlier = {step.key: step for step in before["steps"]}
    missing = collections.namedtuple("Missing", "reached stopped lost")(0, 0, 0)
    changes = dict(total=of_count(now["total"], before["total"]), reached={}, stopped={}, exit_rate={})
    for step in now["steps"]:
        was = earlier.get(step.key, missing)
        changes["reached"][step.key] = of_count(step.reached, was.reached)
        changes["stopped"][step.key] = of_count(step.stopped, was.stopped)
        changes["exit_rate"][step.key] = of_rate(step.lost, step.reached, was.lost, was.reached)
    return dict(changes, **rate_changes(now, before))


def paths_changes(now, before):
    """Counted dialogs, and each step's transitions and share of its from-slot, by (from, to) key."""
    def by_pair(found):
        return {(s.from_key, s.to_key): s.transitions for s in found}

    def out_of(found):
        totals = collections.Counter()
        for s in found:
            totals[s.from_key] += s.transitions
        return totals

    then, then_out = by_pair(before["found"]), out_of(before["found"])
    now_out = out_of(now["found"])
    changes = dict(total=of_count(now["total"], before["total"]), transitions={}, share={})
    for s in now["found"]:
        pair = (s.from_key, s.to_key)
        changes["transitions"][pair] = of_count(s.transitions, then.get(pair, 0))
        changes["share"][pair] = of_rate(s.transitions, now_out[s.from_key], then.get(pair, 0), then_out[s.from_key])
    return dict(changes, **rate_changes(now, before))


def rate_changes(now, before):
    """Containment and Completion, for an agent with outcome rules and dialogs in this period."""
    counts, earlier = now.get("outcome_counts"), before.get("outcome_counts") or collections.Counter()
    if counts is None:
        return {}
    total, total_before = sum(counts.values()), sum(earlier.values())
    return dict(
        containment=of_rate(outcomes.contained(counts), total, outcomes.contained(earlier), total_before),
        completion=of_rate(counts["completed"], total, earlier["completed"], total_before),
    )


CHANGES = {"stop-slots": stops_changes, "slot-funnel": funnel_changes, "slot-paths": paths_changes}


def compared(view, now, before):
    """Each agent's preview (of `now`) with its `changes` from `before` (same agents,
    same view); an agent without dialogs before gets `nothing_before` instead, rather
    than every number saying so."""
    earlier = {p["agent"].id: p for p in before}
    return [dict(p, changes=CHANGES[view](p, earlier[p["agent"].id])) if earlier[p["agent"].id]["total"]
            else dict(p, nothing_before=True) for p in now]
