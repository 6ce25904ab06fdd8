"""Rows that one worker at a time works on (export items, import jobs): their
states, and the claim and lease that say which worker holds one.

Every change of state is one conditional UPDATE guarded by the state it expects
and, while a row is worked on, by the claim token of the worker holding it.
Leaving the working state clears the token, so no stalled worker and no late
error can take a finished row back or record its outcome twice. The holder
renews its lease in the background while it is alive; a row whose lease lapsed
lost its worker (it died) and may be claimed again.
"""
import secrets
import threading
from contextlib import contextmanager

import database
from models import utcnow


class IllegalTransition(ValueError):
    """Code asked for a move the table does not allow: a bug, not a race."""


class Lifecycle:
    """The state machine of `model`, whose rows have `state`, `claim_token`,
    `lease_until` and `attempts`: `transitions` maps each state to the states it
    may move to; a row is claimed from `waiting` into `working`."""

    def __init__(self, model, transitions, waiting, working):
        self.model, self.transitions, self.waiting, self.working = model, transitions, waiting, working

    def change(self, row_id, sources, to, guard=None, **changes):
        """The one way to change a row's state: a conditional UPDATE; True if it applied.

        Only a row being worked on holds a claim; every other state clears token and lease.
        """
        illegal = [source for source in sources if to not in self.transitions[source]]
        if illegal:
            raise IllegalTransition(f"{', '.join(illegal)} -> {to}")
        if to != self.working:
            changes.update(claim_token=None, lease_until=None)
        model = self.model
        condition = (model.id == row_id) & model.state.in_(sources)
        if guard is not None:
            condition &= guard
        return bool(model.update(state=to, **changes).where(condition).execute())

    def lease_lapsed(self, now):
        """A row being worked on whose worker stopped renewing its lease (it died): free to take."""
        return (self.model.state == self.working) & (self.model.lease_until < now)

    def claim(self, row_id, lease, ready=True, **changes):
        """Take a waiting row that is `ready` (an expression), or one whose lease
        lapsed, atomically; None if it is finished, not ready, or taken.

        The claim carries a random token: only its holder may renew the lease or
        record the outcome, so a worker that stalled past its lease cannot overwrite
        the work of the one that took over.
        """
        now, model = utcnow(), self.model
        claimable = ((model.state == self.waiting) & ready) | self.lease_lapsed(now)
        taken = self.change(
            row_id, (self.waiting, self.working), self.working, claimable,
            lease_until=now + lease, claim_token=secrets.token_hex(16), attempts=model.attempts + 1, **changes,
        )
        return model.get_by_id(row_id) if taken else None

    def move(self, row, to, **changes):
        """Move a row we hold from the working state to `to`, recording `changes` with it.

        Returns False, changing nothing, when the row is no longer ours: another
        worker took it over, or it already left the working state.
        """
        mine = self.model.claim_token == row.claim_token
        moved = self.change(row.id, (self.working,), to, mine, **changes)
        if moved:
            row.state = to
            for name, value in changes.items():
                setattr(row, name, value)
            if to != self.working:
                row.claim_token = row.lease_until = None
        return moved

    def record(self, row, **changes):
        """Record progress on a row we still hold (lease, results so far)."""
        return self.move(row, self.working, **changes)

    @contextmanager
    def lease_kept(self, row, lease):
        """Renew the row's lease in the background while this worker is alive and busy.

        A worker killed mid-task stops renewing, so its row becomes claimable again
        one lease later, while a slow but living worker is never mistaken for a dead one.
        """
        done = threading.Event()

        def renew():
            with database.connection():
                while not done.wait(lease.total_seconds() / 3):
                    if not self.record(row, lease_until=utcnow() + lease):
                        return

        heartbeat = threading.Thread(target=renew, name=f"lease-{self.model._meta.table_name}-{row.id}", daemon=True)
        heartbeat.start()
        try:
            yield
        finally:
            done.set()
            heartbeat.join()
