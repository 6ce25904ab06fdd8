"""Passwords: their bounds, and hashing and checking them (Werkzeug's scrypt)."""
import functools

from werkzeug.security import check_password_hash, generate_password_hash

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200  # hashing is deliberately slow: bound the work one request can ask for


def assign(account, password):
    """Give `account` this password (saved with the account)."""
    account.password_hash = generate_password_hash(password)


def matches(account, password):
    """Whether `password` is `account`'s. With no account (an unknown email) a dummy
    hash is checked, so that a wrong email takes as long as a wrong password."""
    if account is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(account.password_hash, password)


@functools.cache
def _dummy_hash():
    return generate_password_hash("no account has this email")
