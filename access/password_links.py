"""The emailed links that set a password (rules in `access.tokens`): making one
for an account, finding the account a link names, setting the password once, and
the email that carries a link.

The email is sent by a Huey task, so that a failing mail server never breaks the
page that asked for it. The queue carries the account's id only: the token is made
when the email is, and neither it nor the address is ever logged."""
import logging

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l

from access import passwords, sessions, tokens
from export_queue.delivery import hand_over, mail_failure
from export_queue.emails import external_url
from extensions import Message, huey, in_app_context
from languages import DEFAULT, speaking_to
from models import Account, utcnow
from reporting.localtime import format_local
from webguard.request_log import log_event

SUBJECTS = {tokens.RESET: _l("Reset your Slotlens password"), tokens.INVITATION: _l("You are invited to Slotlens")}


class MailDeferred(Exception):
    """The mail server refused for now: Huey tries the task again."""


def link(account, purpose):
    """The absolute link (under BASE_URL) that lets the account's owner set a password."""
    token = tokens.make(current_app.config["SECRET_KEY"], purpose, account)
    return external_url("auth.set_password", purpose=purpose.name, token=token)


def account_for(purpose, token):
    """The account a link of `purpose` may set a password for; LinkRefused otherwise."""
    account_id, named_digest = tokens.read(current_app.config["SECRET_KEY"], purpose, token)
    account = Account.get_or_none(Account.id == account_id)
    tokens.check_still_good(account, named_digest)
    return account


def set_password(account, password):
    """Give the account `password` unless its password changed since it was read
    (two uses of one link at once: only the first sets it), and end its sessions.
    Returns whether it was set."""
    read_hash = account.password_hash
    passwords.assign(account, password)
    changed = (
        Account.update(password_hash=account.password_hash)
        .where((Account.id == account.id) & (Account.password_hash == read_hash))
        .execute()
    )
    if changed:
        sessions.end_all(account)
    return bool(changed)


def link_email(account, purpose, otherwise=DEFAULT):
    """The email that carries a fresh link of `purpose` to the account's address, in
    the account's language, or `otherwise` while it has none (an invited account)."""
    with speaking_to(account, otherwise):
        context = dict(
            account=account,
            purpose=purpose.name,
            link=link(account, purpose),
            until=format_local(utcnow() + purpose.lifetime, current_app.config["TIMEZONE"]),
            timezone=current_app.config["TIMEZONE"],
            base_url=current_app.config["BASE_URL"],
            forgot_link=external_url("auth.forgot_password"),
        )
        return Message(
            subject=str(SUBJECTS[purpose]),
            recipients=[account.email],
            body=render_template("email/password_link.txt", **context),
            html=render_template("email/password_link.html", **context),
        )


@huey.task(retries=3, retry_delay=60)
@in_app_context
def send_link(account_id, purpose_name, otherwise=DEFAULT):
    """Email the account a fresh link of this purpose (none if it was deleted meanwhile),
    in `otherwise` while the account has no language of its own."""
    account = Account.get_or_none(Account.id == account_id)
    if account is None:
        return
    try:
        hand_over(link_email(account, tokens.PURPOSES[purpose_name], otherwise))
    except Exception as exc:  # noqa: BLE001 - logged by kind only: the server's words may name the address
        failure = mail_failure(exc)
        log_event("password_link_not_sent", level=logging.WARNING, account=account_id, purpose=purpose_name, kind=failure.kind)
        if failure.transient:
            raise MailDeferred(failure.kind) from None
