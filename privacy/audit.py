"""Who read what: opening a transcript and asking for transcripts are recorded, for
admins to read on Admin → Audit, and so is an admin deleting an account. Entries are
only ever added; they refer to the dialog read, so an erased dialog shows by its new ID."""
from datetime import date
from urllib.parse import parse_qsl

from flask import g, request
from peewee import JOIN
from werkzeug.datastructures import MultiDict

from languages import stored
from languages.stored import N_, StoredText
from models import Agent, AuditEntry, Dialog
from reporting import dialog_lists

TRANSCRIPT, EXPORT, ACCOUNT_DELETED = "transcript", "export", "account-deleted"
PAGE_SIZE = 100
# A transcripts export's `filters`: the Dialogs page's query string, or, for one asked
# for from Exports, the request it repeats, in English (`languages.stored`).
SEND_AGAIN = StoredText(N_("Send again of request #%(id)s"))
OWN_COPY = StoredText(N_("Own copy of request #%(id)s, sent to another account"))


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


def asked_for(filters):
    """A transcripts export's list as the Exports page describes a request (the
    arguments of the `filters_in_words` macro); None for an entry that names a request."""
    args = MultiDict(parse_qsl(filters))
    try:
        agent_ids = [int(agent_id) for agent_id in args.getlist("agents")]
        return dict(selection=dialog_lists.in_a_sentence(dialog_lists.parse_selector(args), agent_ids),
                    date_from=date.fromisoformat(args["date_from"]), date_to=date.fromisoformat(args["date_to"]),
                    channels=args.getlist("channels"), outcomes=args.getlist("outcomes"))
    except (KeyError, ValueError):  # not a query string (dialog_lists.SelectorError is a ValueError too)
        return None


def request_named(filters):
    """The words of an export entry that names a request (Send again, an own copy) in the current language."""
    return stored.shown(filters, (SEND_AGAIN, OWN_COPY))


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
