"""The rules of the links that set a password: Forgot password?'s reset link (an
hour) and an admin's invitation (7 days). Pure: the secret key and the account come
in as arguments.

A token is itsdangerous' signature (HMAC-SHA256, a salt per purpose, a timestamp)
of the account's id and its password digest. Setting a password changes the digest,
so every link made before stops working: single use, with nothing stored."""
import hashlib
from datetime import timedelta
from typing import NamedTuple

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from access import passwords


class Purpose(NamedTuple):
    name: str  # in the link's path: /login/<name>/<token>
    salt: str  # a token made for one purpose is refused for the other
    lifetime: timedelta


RESET = Purpose("reset", "password-reset", timedelta(hours=1))
INVITATION = Purpose("join", "invitation", timedelta(days=7))
PURPOSES = {purpose.name: purpose for purpose in (RESET, INVITATION)}

# Why a link sets no password.
INVALID = "invalid"  # not one we signed (cut short, altered, or for the other purpose)
EXPIRED = "expired"  # older than its purpose's lifetime
SPENT = "spent"  # used already, the password changed since, or the account is gone or disabled


class LinkRefused(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _serializer(secret_key, purpose):
    return URLSafeTimedSerializer(secret_key, salt=purpose.salt, signer_kwargs={"digest_method": hashlib.sha256})


def make(secret_key, purpose, account):
    """A token for `purpose` naming the account and its current password digest."""
    return _serializer(secret_key, purpose).dumps({"account": account.id, "password": passwords.digest(account)})


def read(secret_key, purpose, token):
    """(account id, password digest) that a genuine token of `purpose` names, if it
    has not expired; otherwise LinkRefused(INVALID or EXPIRED)."""
    try:
        data = _serializer(secret_key, purpose).loads(token, max_age=purpose.lifetime.total_seconds())
    except SignatureExpired:
        raise LinkRefused(EXPIRED) from None
    except BadSignature:
        raise LinkRefused(INVALID) from None
    if not isinstance(data, dict) or not isinstance(data.get("account"), int) or not isinstance(data.get("password"), str):
        raise LinkRefused(INVALID)
    return data["account"], data["password"]


def check_still_good(account, named_digest):
    """LinkRefused(SPENT) unless the account exists, is enabled and still has the
    password the link was made for."""
    if account is None or account.is_disabled or named_digest != passwords.digest(account):
        raise LinkRefused(SPENT)
