"""Deleting an account: its grants, subscriptions, alerts and export requests go
with it (the tables' foreign keys cascade), its reports' files are deleted, and
Slotlens is never left without an admin who can log in."""
from flask_babel import gettext as _

from access import passwords
from database import db
from database.bulk import hold_lock
from export_queue import upkeep
from models import Account
from privacy import audit


def refusal(deleter_id, account_id, admins_left):
    """Why the deleter may not delete the account, or None. `admins_left`: the admins
    other than the account who can log in (enabled, with a password). In the page's language."""
    if account_id == deleter_id:
        return _("You cannot delete your own account.")
    if admins_left == 0:
        return _("This is the last admin who can log in: make another account admin first.")
    return None


def delete(deleter, account):
    """Delete `account` and record who did it (Admin → Audit), unless `refusal` says
    why not; returns that refusal or None. Under the admins' lock, so that two admins
    deleting each other at once leave one."""
    with db.atomic():
        hold_lock("admins", 0)
        able_admins = (Account.select(Account.password_hash)
                       .where(Account.is_admin & ~Account.is_disabled & (Account.id != account.id)))
        why_not = refusal(deleter.id, account.id, sum(passwords.is_set(admin) for admin in able_admins))
        if why_not is None:
            Account.delete().where(Account.id == account.id).execute()
            audit.record(audit.ACCOUNT_DELETED, filters=account.email)
    if why_not is None:
        upkeep.remove_stale_files()
    return why_not
