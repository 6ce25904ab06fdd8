"""Logged-in sessions: each account has a session version, stored in its session
cookie at log-in and checked on every request; bumping it ends every session of
the account (log-out, a new password, disabled by an admin)."""
from flask import session

from models import Account


def start(account):
    session.clear()
    session["account_id"] = account.id
    session["session_version"] = account.session_version


def signed_in_account():
    """The logged-in account, if its session is still valid (not logged out, not disabled)."""
    account_id = session.get("account_id")
    account = Account.get_or_none(Account.id == account_id) if account_id else None
    if account is not None and (account.is_disabled or session.get("session_version") != account.session_version):
        session.clear()
        account = None
    return account


def end_all(account):
    """Log the account out everywhere (log-out, password change, disabled by an admin)."""
    Account.update(session_version=Account.session_version + 1).where(Account.id == account.id).execute()
    account.session_version = Account.get_by_id(account.id).session_version
