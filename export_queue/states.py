"""The life of one export item, written down once and enforced in one place.

    queued --claim--> building --delivered--> sent --> expired
       ^                 |    \\--gave up--> failed
       \\----retry-------/     \\--empty, and its subscription skips those--> skipped

Every change of state is one conditional UPDATE guarded by the state it expects
and, while an item is being built, by the claim token of the worker holding it.
Terminal states clear the token, so no stalled worker and no late error can ever
take a sent item back to `queued` or send it again.
"""
import secrets
import threading
from contextlib import contextmanager

import models
from models import ExportItem, utcnow

QUEUED, BUILDING, SENT, FAILED, EXPIRED, SKIPPED = "queued", "building", "sent", "failed", "expired", "skipped"
IN_FLIGHT = (QUEUED, BUILDING)
TERMINAL = (SENT, FAILED, EXPIRED, SKIPPED)

# from-state -> the states it may move to, and nothing else.
TRANSITIONS = {
    QUEUED: {BUILDING, SENT},  # claimed; or found delivered by a worker that lost its lease
    BUILDING: {BUILDING, QUEUED, SENT, FAILED, SKIPPED},  # progress, retry later, delivered, given up, empty
    SENT: {EXPIRED},
    FAILED: set(),
    EXPIRED: set(),
    SKIPPED: set(),
}


class IllegalTransition(ValueError):
    """Code asked for a move the table does not allow: a bug, not a race."""


def _change(item_id, sources, to, guard=None, **changes):
    """The one way to change an item's state: a conditional UPDATE; True if it applied.

    Only a building item holds a claim; every other state clears token and lease.
    """
    illegal = [source for source in sources if to not in TRANSITIONS[source]]
    if illegal:
        raise IllegalTransition(f"{', '.join(illegal)} -> {to}")
    if to != BUILDING:
        changes.update(claim_token=None, lease_until=None)
    condition = (ExportItem.id == item_id) & ExportItem.state.in_(sources)
    if guard is not None:
        condition &= guard
    return bool(ExportItem.update(state=to, **changes).where(condition).execute())


def lease_lapsed(now):
    """A building item whose worker stopped renewing its lease (it died): free to take."""
    return (ExportItem.state == BUILDING) & (ExportItem.lease_until < now)


def claim(item_id, lease):
    """Take an item for building, atomically; None if it is done, not due yet, or taken.

    The claim carries a random token: only its holder may renew the lease or
    record the outcome, so a worker that stalled past its lease cannot overwrite
    the work of the one that took over.
    """
    now = utcnow()
    due = ExportItem.not_before.is_null() | (ExportItem.not_before <= now)
    claimable = ((ExportItem.state == QUEUED) & due) | lease_lapsed(now)
    token = secrets.token_hex(16)
    taken = _change(
        item_id, (QUEUED, BUILDING), BUILDING, claimable,
        lease_until=now + lease, claim_token=token, attempts=ExportItem.attempts + 1,
    )
    return ExportItem.get_by_id(item_id) if taken else None


def move(item, to, **changes):
    """Move an item we hold from `building` to `to`, recording `changes` with it.

    Returns False, changing nothing, when the item is no longer ours: another
    worker took it over, or it already reached a terminal state.
    """
    moved = _change(item.id, (BUILDING,), to, ExportItem.claim_token == item.claim_token, **changes)
    if moved:
        item.state = to
        for name, value in changes.items():
            setattr(item, name, value)
        if to != BUILDING:
            item.claim_token = item.lease_until = None
    return moved


def record(item, **changes):
    """Record progress on an item we are still building (lease, build results)."""
    return move(item, BUILDING, **changes)


def mark_delivered(item, **changes):
    """The mail server accepted this item's email: it is sent, whoever holds it now.

    Not guarded by our claim: if our lease lapsed meanwhile and another worker
    took the item, recording the delivery stops that worker before it sends.
    """
    delivered = _change(item.id, IN_FLIGHT, SENT, **changes)
    if delivered:
        item.state = SENT
    return delivered


def expire(item_id):
    """A sent item's link ran out; True if this call expired it."""
    return _change(item_id, (SENT,), EXPIRED)


@contextmanager
def lease_kept(item, lease):
    """Renew the item's lease in the background while this worker is alive and busy.

    A worker killed mid-task stops renewing, so its item becomes claimable again
    one lease later, while a slow but living worker is never mistaken for a dead one.
    """
    done = threading.Event()

    def renew():
        with models.connection():
            while not done.wait(lease.total_seconds() / 3):
                if not record(item, lease_until=utcnow() + lease):
                    return

    heartbeat = threading.Thread(target=renew, name=f"lease-{item.id}", daemon=True)
    heartbeat.start()
    try:
        yield
    finally:
        done.set()
        heartbeat.join()
