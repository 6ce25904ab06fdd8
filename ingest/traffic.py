"""How many new events each agent received per quarter hour (`AgentTraffic`).

The agent page shows data arriving without counting a big agent's events: the
writer adds each batch's new events to the row of its quarter hour, and the page
sums a few rows.
"""
from peewee import EXCLUDED, Case, fn

from database.bulk import Statement, insert_rows
from models import AgentTraffic, utcnow

TRAFFIC_COUNT = Statement(lambda values: AgentTraffic.insert_from(
    values, (AgentTraffic.agent, AgentTraffic.quarter, AgentTraffic.events, AgentTraffic.last_received_at)
).on_conflict(
    conflict_target=[AgentTraffic.agent, AgentTraffic.quarter],
    update={AgentTraffic.events: AgentTraffic.events + EXCLUDED.events, AgentTraffic.last_received_at: EXCLUDED.last_received_at},
).returning())


def quarter_of(moment):
    """The start of the quarter hour `moment` falls in."""
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def count(agent, new):
    """Add a batch's new events to the agent's count of this quarter hour, and note when
    it came (last of the batch's writes, so that every writer takes this row's lock last)."""
    now = utcnow()
    insert_rows(TRAFFIC_COUNT, [(agent.id, quarter_of(now), new, now)])


def received(agent, since):
    """(events in all, events since `since` (UTC), when the latest batch came or None)."""
    in_range = fn.SUM(Case(None, [(AgentTraffic.quarter >= since, AgentTraffic.events)], 0))
    total, recent, last = (
        AgentTraffic.select(fn.SUM(AgentTraffic.events), in_range, fn.MAX(AgentTraffic.last_received_at))
        .where(AgentTraffic.agent == agent.id)
        .tuples()
        .get()
    )
    return int(total or 0), int(recent or 0), last
