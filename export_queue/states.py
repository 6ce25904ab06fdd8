"""The life of one export item, written down once and enforced in one place.

    queued --claim--> building --delivered--> sent --> expired
       ^                 |    \\--gave up--> failed
       \\----retry-------/     \\--empty, and its subscription skips those--> skipped

Every change of state is one conditional UPDATE guarded by the state it expects
and, while an item is being built, by the claim token of the worker holding it
(`claims.Lifecycle`, which import jobs share). Terminal states clear the token, so
no stalled worker and no late error can ever take a sent item back to `queued` or
send it again.
"""
from flask_babel import lazy_gettext as _l

from database.claims import IllegalTransition, Lifecycle  # IllegalTransition: callers name it here too
from languages.formats import number
from models import ExportItem, utcnow

QUEUED, BUILDING, SENT, FAILED, EXPIRED, SKIPPED = "queued", "building", "sent", "failed", "expired", "skipped"
IN_FLIGHT = (QUEUED, BUILDING)
TERMINAL = (SENT, FAILED, EXPIRED, SKIPPED)

# Each state in words, for the pages (the stored values above stay as they are).
LABELS = {QUEUED: _l("queued"), BUILDING: _l("building"), SENT: _l("sent"), FAILED: _l("failed"), EXPIRED: _l("expired"),
          SKIPPED: _l("skipped")}
# How many items of a run are in each state, e.g. '2 sent' (`counted`).
COUNTED = {QUEUED: _l("%(num)s queued"), BUILDING: _l("%(num)s building"), SENT: _l("%(num)s sent"), FAILED: _l("%(num)s failed"),
           EXPIRED: _l("%(num)s expired"), SKIPPED: _l("%(num)s skipped")}


def counted(state, num):
    """E.g. '2 sent' ('отправлено: 2'): `num` items in `state`, the number as the language writes it."""
    return COUNTED[state] % {"num": number(num)} if state in COUNTED else f"{number(num)} {state}"

# from-state -> the states it may move to, and nothing else.
TRANSITIONS = {
    QUEUED: {BUILDING, SENT},  # claimed; or found delivered by a worker that lost its lease
    BUILDING: {BUILDING, QUEUED, SENT, FAILED, SKIPPED},  # progress, retry later, delivered, given up, empty
    SENT: {EXPIRED},
    FAILED: set(),
    EXPIRED: set(),
    SKIPPED: set(),
}
ITEMS = Lifecycle(ExportItem, TRANSITIONS, waiting=QUEUED, working=BUILDING)
lease_lapsed, move, record, lease_kept = ITEMS.lease_lapsed, ITEMS.move, ITEMS.record, ITEMS.lease_kept


def claim(item_id, lease):
    """Take an item for building (see `Lifecycle.claim`); None if it is done, not due yet, or taken."""
    due = ExportItem.not_before.is_null() | (ExportItem.not_before <= utcnow())
    return ITEMS.claim(item_id, lease, ready=due)


def mark_delivered(item, **changes):
    """The mail server accepted this item's email: it is sent, whoever holds it now.

    Not guarded by our claim: if our lease lapsed meanwhile and another worker
    took the item, recording the delivery stops that worker before it sends.
    """
    delivered = ITEMS.change(item.id, IN_FLIGHT, SENT, **changes)
    if delivered:
        item.state = SENT
    return delivered


def expire(item_id):
    """A sent item's link ran out; True if this call expired it."""
    return ITEMS.change(item_id, (SENT,), EXPIRED)
