"""Recording what a person asked for: one request, one item per agent, unless it
would repeat a request still in flight or flood the account's mailbox."""
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import fn

from export_queue.states import IN_FLIGHT, QUEUED
from database import db
from database.bulk import hold_lock
from models import ExportItem, ExportRequest, utcnow
from reporting import dialog_lists, kinds, periods


@dataclass(frozen=True)
class Outcome:
    """What `request_export` did, for the page to say."""

    request: ExportRequest | None
    status: str  # "queued", "duplicate", "too_many" (in flight) or "quota" (this hour)
    retry_at: datetime | None = None  # for "quota": when the next request is allowed


def filters_of(request):
    return periods.Filters(
        agent_ids=tuple(sorted(item.agent_id for item in request.items)),
        date_from=request.date_from,
        date_to=request.date_to,
        channels=tuple(request.channel_list),
        outcomes=tuple(json.loads(request.outcomes)),
    )


def selector_of(request):
    """The dialog list a transcripts request was asked from (no selector for reports)."""
    return dialog_lists.selector_from_json(request.selector)


def filters_key(filters, kind=kinds.DEFAULT, selector=dialog_lists.Selector()):
    """A digest equal for two requests exactly when they ask for the same reports
    (fixed length, however many agents and channels were picked)."""
    agents = ",".join(str(i) for i in sorted(filters.agent_ids))
    channels = json.dumps(sorted(filters.channels))
    chosen = f"{kind}|{agents}|{filters.date_from}|{filters.date_to}|{channels}"
    if filters.outcomes:  # without: the digest as before the Outcomes filter existed
        chosen += f"|outcomes={','.join(filters.outcomes)}"
    if selector != dialog_lists.Selector():  # reports: the digest as before selectors existed
        chosen += f"|{dialog_lists.selector_json(selector)}"
    return hashlib.sha256(chosen.encode()).hexdigest()


def lock_account(account):
    """Hold the account until the transaction ends, so that checking one of its limits
    and acting on it happen as one however many requests or workers do it at once."""
    hold_lock("account", account.id)


def in_flight_requests(account, scheduled=False):
    """The account's requests with an item still on its way: a person's (the manual
    limits count these) or its subscriptions' (they have a limit of their own), so that
    neither can block the other."""
    return (
        ExportRequest.select()
        .join(ExportItem)
        .where((ExportRequest.account == account) & ExportRequest.subscription_run.is_null(not scheduled)
               & ExportItem.state.in_(IN_FLIGHT))
        .distinct()
    )


def request_export(account, filters, max_pending, max_per_hour=None, kind=kinds.DEFAULT, selector=dialog_lists.Selector()):
    """Record a person's export request (one item per agent) unless it would repeat or
    flood; requests of subscriptions count neither as repeats nor against the limits.
    `selector` picks the dialogs of a transcripts request.

    The caller enqueues the items of a queued outcome after the transaction.
    """
    with db.atomic():
        lock_account(account)
        key = filters_key(filters, kind, selector)
        in_flight = list(in_flight_requests(account))
        duplicate = next((r for r in in_flight if r.filters_key == key), None)
        if duplicate:
            return Outcome(duplicate, "duplicate")
        if len(in_flight) >= max_pending:
            return Outcome(None, "too_many")
        if max_per_hour is not None:
            this_hour = ExportRequest.select().where(
                (ExportRequest.account == account) & ExportRequest.subscription_run.is_null()
                & (ExportRequest.created_at > utcnow() - timedelta(hours=1))
            )
            if this_hour.count() >= max_per_hour:
                oldest = this_hour.select(fn.MIN(ExportRequest.created_at)).scalar()
                return Outcome(None, "quota", retry_at=oldest + timedelta(hours=1))
        request = ExportRequest.create(
            account=account,
            date_from=filters.date_from,
            date_to=filters.date_to,
            kind=kind,
            channels=json.dumps(sorted(filters.channels)),
            outcomes=json.dumps(list(filters.outcomes)),
            selector=dialog_lists.selector_json(selector),
            filters_key=key,
        )
        ExportItem.insert_many([dict(request=request, agent=agent_id) for agent_id in sorted(filters.agent_ids)]).execute()
    return Outcome(request, "queued")


def queue_position(item):
    """1 for the next item a worker will take."""
    return ExportItem.select().where((ExportItem.state == QUEUED) & (ExportItem.id < item.id)).count() + 1
