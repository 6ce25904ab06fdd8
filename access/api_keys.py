"""The bots' API keys: made, stored as hashes, looked up, replaced, and a new key
shown once to the admin who made it.

A new key waits in `NewApiKey`, not in the session cookie, which Flask signs but
does not encrypt; the page that shows it deletes it, and after `SHOWN_FOR` or a
newer key it is never shown.
"""
import hashlib
import secrets
from datetime import timedelta

from access.slugs import unique_slug
from database import db
from models import Agent, NewApiKey, utcnow

SHOWN_FOR = timedelta(minutes=10)


def new_key():
    return "sl_" + secrets.token_urlsafe(32)


def hashed(api_key):
    """API keys are random 256-bit strings, so a plain SHA-256 is a safe lookup hash."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_agent(name):
    """Create an agent and return it with its API key, which is shown only now."""
    api_key = new_key()
    agent = Agent.create(name=name, slug=unique_slug(name), api_key_hash=hashed(api_key))
    return agent, api_key


def rotate(agent):
    """Replace `agent`'s API key; returns the new one, shown only now."""
    api_key = new_key()
    agent.api_key_hash = hashed(api_key)
    agent.save(only=[Agent.api_key_hash])
    return api_key


def agent_for(api_key):
    """The agent whose key this is, or None."""
    return Agent.get_or_none(Agent.api_key_hash == hashed(api_key))


def hold(agent, account, api_key):
    """Keep `api_key` for `agent`'s page, replacing one not shown yet."""
    with db.atomic():
        forget_expired()
        NewApiKey.delete().where(NewApiKey.agent == agent.id).execute()
        NewApiKey.create(agent=agent.id, account=account.id, api_key=api_key)


def take(agent, account):
    """The key waiting for `agent`'s page and this account, once (two tabs at once
    cannot both get it: the delete decides), or None. A key replaced since (the
    `rotate-key` command) is not shown."""
    forget_expired()
    waiting = NewApiKey.get_or_none((NewApiKey.agent == agent.id) & (NewApiKey.account == account.id))
    if waiting is None or NewApiKey.delete().where(NewApiKey.id == waiting.id).execute() != 1:
        return None
    return waiting.api_key if hashed(waiting.api_key) == agent.api_key_hash else None


def forget_expired():
    """Delete the keys no page will show any more (the worker's sweep, every minute),
    so that an unseen key is not kept, nor copied into backups."""
    return NewApiKey.delete().where(NewApiKey.created_at <= utcnow() - SHOWN_FOR).execute()
