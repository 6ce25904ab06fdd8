"""Who read what: opening a transcript and asking for transcripts are recorded, for
admins to read on Admin → Audit, and so is an admin deleting an account. Entries are
only ever added; they refer to the dialog read, so an erased dialog shows by its new ID."""
from flask import g, request
from peewee import JOIN

from models import Agent, AuditEntry, Dialog

TRANSCRIPT, EXPORT, ACCOUNT_DELETED = "transcript", "export", "account-deleted"
PAGE_SIZE = 100


def record(action, agent=None, dialog=None, filters=""):
    """Record that the signed-in account did `action` (on `agent`) now, from the client's address."""
    AuditEntry.create(
        account=g.account.id, account_email=g.account.email, agent=agent.id if agent else None, agent_name=agent.name if agent else "",
        action=action, dialog=dialog, filters=filters, address=request.remote_addr or "",
    )


def record_export(agent_ids, filters):
    """Record a transcripts export asked for now, once per agent it goes to."""
    for agent in Agent.select(Agent.id, Agent.name).where(Agent.id.in_(list(agent_ids))):
        record(EXPORT, agent, filters=filters)


def entries(account_id=None, agent_id=None, before_id=None, size=PAGE_SIZE):
    """Up to `size` entries, newest first, for an account and/or an agent, older than entry `before_id`."""
    query = (AuditEntry.select(AuditEntry, Dialog.id, Dialog.external_id).join(Dialog, JOIN.LEFT_OUTER)
             .order_by(AuditEntry.id.desc()).limit(size))
    if account_id is not None:
        query = query.where(AuditEntry.account == account_id)
    if agent_id is not None:
        query = query.where(AuditEntry.agent == agent_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(query)
