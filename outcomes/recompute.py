"""Bringing every dialog of an agent to its current rules, after they change.

Saving rules bumps the agent's rules version and starts the recomputation at the
first dialog (`save`); a worker then goes through the agent's dialogs in id order,
a batch per transaction, recording how far it has come (`outcomes_done_to`), until
none is left (`outcomes_as_of`). Ingestion meanwhile gives the dialogs it touches
their outcome under the current rules, so a dialog is never left behind; a batch
for an older version stops, and a worker that died leaves its progress for the
next one (`unfinished`).

On PostgreSQL, ingestion reads the rules under a shared lock that saving takes
exclusively: saving waits for every batch that read the old rules, and every
later batch reads the new ones, so no dialog is written under old rules after the
recomputation passed it. A recomputation batch locks its dialogs (in id order, as
ingestion does) before it reads them, so a batch being written meanwhile is read
after it commits.
"""
from dataclasses import dataclass

from peewee import fn

from database import db
from database.bulk import hold_lock
from extensions import huey, in_app_context
from models import Agent, Dialog, utcnow
from outcomes import evaluation
from outcomes import rules as outcome_rules
from outcomes.evaluation import slot_types  # noqa: F401 (what rules are checked against, with the rest of this API)

BATCH = 5000  # dialogs per transaction: a writer waits at most one batch


def change_rules(agent, rules):
    """Store the agent's new rules (checked `Rule`s) and have a worker recompute every
    dialog of the agent for them."""
    recompute_outcomes(agent.id, save(agent, rules))


def save(agent, rules):
    """Store the agent's new rules (checked `Rule`s) and start recomputing from the
    first dialog; returns the rules version for the task to carry."""
    with db.atomic():
        hold_lock("outcomes", agent.id)
        (Agent.update(
            outcome_rules=outcome_rules.to_json(rules),
            outcome_rules_version=Agent.outcome_rules_version + 1,
            outcomes_done_to=0,  # outcomes_as_of stays: when the previous rules were last applied to every dialog
        ).where(Agent.id == agent.id).execute())
        return Agent.select(Agent.outcome_rules_version).where(Agent.id == agent.id).scalar()


def recompute_batch(agent_id, version):
    """Recompute the next batch of the agent's dialogs for this rules version, in one
    transaction; False once there is nothing more to do for it. Under the shared
    outcomes lock, as ingestion: rules saved meanwhile wait for the batch, so a batch
    never writes replaced rules' outcomes after the new ones' recomputation passed."""
    with db.atomic():
        hold_lock("outcomes", agent_id, shared=True)
        current, done_to, stored = (
            Agent.select(Agent.outcome_rules_version, Agent.outcomes_done_to, Agent.outcome_rules)
            .where(Agent.id == agent_id).tuples().first()
            or (None, None, None)
        )
        if current != version or done_to is None:
            return False
        this_version = (Agent.id == agent_id) & (Agent.outcome_rules_version == version)  # new rules start again at 0
        batch = Dialog.select(Dialog.id).where((Dialog.agent == agent_id) & (Dialog.id > done_to)).order_by(Dialog.id).limit(BATCH)
        if db.for_update:
            batch = batch.for_update()
        ids = [pk for (pk,) in batch.tuples()]
        if not ids:
            Agent.update(outcomes_done_to=None, outcomes_as_of=utcnow()).where(this_version).execute()
            return False
        evaluation.apply(agent_id, outcome_rules.from_json(stored), ids)
        return Agent.update(outcomes_done_to=ids[-1]).where(this_version).execute() == 1


def recompute(agent_id, version):
    """Every dialog of the agent, a batch at a time, for this rules version."""
    while recompute_batch(agent_id, version):
        pass


@huey.task()
@in_app_context
def recompute_outcomes(agent_id, version):
    recompute(agent_id, version)


def finish(agent_id):
    """Bring the agent's outcomes up to its current rules before a report reads them:
    a report asked for while its rules are being recomputed waits for them by doing
    the rest of the work itself (the batches of several workers interleave safely)."""
    version = Agent.select(Agent.outcome_rules_version).where((Agent.id == agent_id) & Agent.outcomes_done_to.is_null(False)).scalar()
    if version is not None:
        recompute(agent_id, version)


def unfinished():
    """(agent id, rules version) of every recomputation still under way."""
    return list(Agent.select(Agent.id, Agent.outcome_rules_version).where(Agent.outcomes_done_to.is_null(False)).tuples())


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self):
        return 100 * self.done // self.total if self.total else 100


def progress(agent):
    """How far the recomputation of the agent's outcomes has come, or None when done."""
    done_to = Agent.select(Agent.outcomes_done_to).where(Agent.id == agent.id).scalar()
    if done_to is None:
        return None
    dialogs = Dialog.select(fn.COUNT(Dialog.id)).where(Dialog.agent == agent.id)
    return Progress(dialogs.where(Dialog.id <= done_to).scalar(), dialogs.scalar())
