"""How many new events each agent received per quarter hour (`AgentTraffic`).

The agent page shows data arriving without counting a big agent's events: the
writer adds each batch's new events to the row of its quarter hour, and the page
sums a few rows.
"""
from peewee import EXCLUDED, Case, fn

from database.bulk import Statement, insert_rows
from models import AgentTraffic, ImportTraffic, utcnow

TRAFFIC_COUNT = Statement(lambda values: AgentTraffic.insert_from(
    values, (AgentTraffic.agent, AgentTraffic.quarter, AgentTraffic.events, AgentTraffic.last_received_at)
).on_conflict(
    conflict_target=[AgentTraffic.agent, AgentTraffic.quarter],
    update={AgentTraffic.events: AgentTraffic.events + EXCLUDED.events, AgentTraffic.last_received_at: EXCLUDED.last_received_at},
).returning())


def quarter_of(moment):
    """The start of the quarter hour `moment` falls in."""
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


IMPORT_TRAFFIC_COUNT = Statement(lambda values: ImportTraffic.insert_from(
    values, (ImportTraffic.import_job, ImportTraffic.quarter, ImportTraffic.events)
).on_conflict(
    conflict_target=[ImportTraffic.import_job, ImportTraffic.quarter],
    update={ImportTraffic.events: ImportTraffic.events + EXCLUDED.events},
).returning())


def count(agent, new, import_job=None):
    """Add a batch's new events to the agent's count of this quarter hour, and note when
    it came (last of the batch's writes, so that every writer takes this row's lock last);
    an import job's also to its own count, which its removal takes back."""
    now = utcnow()
    insert_rows(TRAFFIC_COUNT, [(agent.id, quarter_of(now), new, now)])
    if import_job is not None and new:
        insert_rows(IMPORT_TRAFFIC_COUNT, [(import_job, quarter_of(now), new)])


def take_back(agent_id, import_job):
    """Take an import job's events out of its agent's traffic counts (`count`), in
    quarter order, as every writer locks these rows."""
    counted = ImportTraffic.select(ImportTraffic.quarter, ImportTraffic.events).where(ImportTraffic.import_job == import_job)
    for quarter, events in counted.order_by(ImportTraffic.quarter).tuples():
        (
            AgentTraffic.update(events=AgentTraffic.events - events)
            .where((AgentTraffic.agent == agent_id) & (AgentTraffic.quarter == quarter))
            .execute()
        )
    ImportTraffic.delete().where(ImportTraffic.import_job == import_job).execute()


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
