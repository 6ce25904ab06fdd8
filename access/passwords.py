"""Passwords: their bounds, and hashing and checking them (Werkzeug's scrypt).

An invited account has no password (an empty hash) until its owner sets one from
the invitation's link: it cannot log in before."""
import functools
import hashlib

from werkzeug.security import check_password_hash, generate_password_hash

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200  # hashing is deliberately slow: bound the work one request can ask for
NOT_SET = ""  # the hash of an account whose owner has not set a password yet


def assign(account, password):
    """Give `account` this password (saved with the account)."""
    account.password_hash = generate_password_hash(password)


def is_set(account):
    """Whether the account's owner has set a password (an invited account has not)."""
    return account.password_hash != NOT_SET


def matches(account, password):
    """Whether `password` is `account`'s. With no account (an unknown email) or no
    password yet, a dummy hash is checked, so that neither answers faster than a
    wrong password."""
    if account is None or not is_set(account):
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(account.password_hash, password)


def digest(account):
    """A short digest of the account's password hash, for signed cookies and links:
    it changes whenever the password does (the hash is salted anew each time)."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


@functools.cache
def _dummy_hash():
    return generate_password_hash("no account has this email")
