"""Recording what a person asked for: one request, one item per agent, unless it
would repeat a request still in flight or flood the account's mailbox."""
import hashlib
from dataclasses import dataclass

import reports
import tasks
from export_queue.states import IN_FLIGHT, QUEUED
from models import Account, ExportItem, ExportRequest, db


@dataclass(frozen=True)
class Outcome:
    """What `request_export` did, for the page to say."""

    request: ExportRequest | None
    status: str  # "queued", "duplicate" or "too_many"


def filters_of(request):
    return reports.Filters(
        agent_ids=tuple(sorted(item.agent_id for item in request.items)),
        date_from=request.date_from,
        date_to=request.date_to,
        channels=tuple(request.channel_list),
    )


def filters_key(filters):
    """A digest equal for two requests exactly when they ask for the same reports
    (fixed length, however many agents and channels were picked)."""
    agents = ",".join(str(i) for i in sorted(filters.agent_ids))
    channels = "\n".join(sorted(filters.channels))
    return hashlib.sha256(f"{agents}|{filters.date_from}|{filters.date_to}|{channels}".encode()).hexdigest()


def in_flight_requests(account):
    return (
        ExportRequest.select()
        .join(ExportItem)
        .where((ExportRequest.account == account) & ExportItem.state.in_(IN_FLIGHT))
        .distinct()
    )


def request_export(account, filters, max_pending):
    """Record an export request (one item per agent) unless it would repeat or flood.

    The caller enqueues the items of a queued outcome after the transaction.
    """
    with db.atomic():
        if db.for_update:
            Account.select().where(Account.id == account.id).for_update().get()
        key = filters_key(filters)
        in_flight = list(in_flight_requests(account))
        duplicate = next((r for r in in_flight if r.filters_key == key), None)
        if duplicate:
            return Outcome(duplicate, "duplicate")
        if len(in_flight) >= max_pending:
            return Outcome(None, "too_many")
        request = ExportRequest.create(
            account=account,
            date_from=filters.date_from,
            date_to=filters.date_to,
            channels="\n".join(sorted(filters.channels)),
            filters_key=key,
        )
        ExportItem.insert_many([dict(request=request, agent=agent_id) for agent_id in sorted(filters.agent_ids)]).execute()
    return Outcome(request, "queued")


def enqueue(items):
    """Put items on the general export queue (ids only)."""
    for item in items:
        tasks.process_export_item(item.id)


def queue_position(item):
    """1 for the next item a worker will take."""
    return ExportItem.select().where((ExportItem.state == QUEUED) & (ExportItem.id < item.id)).count() + 1
