"""Who may try to log in: the bound on a login's email, the lockout after failed
attempts, and the device cookie that keeps an account's owner out of its lockout."""
import hashlib
import math
import secrets
from datetime import timedelta

from flask import current_app, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from access import passwords
from database import db
from models import LoginFailure, utcnow

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit for a forward path
ADDRESS_WIDE = 5  # an address, or an account across addresses, may fail this many times the per-pair limit
DEVICE_COOKIE = "slotlens_device"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600


def device_serializer():
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="login-device", signer_kwargs={"digest_method": hashlib.sha256}
    )


def remember_device(response, account):
    """Give this browser a device cookie (OWASP's defence against lockout abuse):
    signed, naming the account, its password (a digest, so that a new password
    revokes every device) and a nonce of its own, sent only to the login page."""
    token = device_serializer().dumps(
        {"account": account.id, "password": passwords.digest(account), "nonce": secrets.token_urlsafe(16)}
    )
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=DEVICE_COOKIE_MAX_AGE,
        path=url_for("auth.login"),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )


def device_nonce(account):
    """The nonce of this browser's device cookie if it logged in to `account` before, else None."""
    token = request.cookies.get(DEVICE_COOKIE)
    if account is None or not token:
        return None
    try:
        data = device_serializer().loads(token, max_age=DEVICE_COOKIE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("account") != account.id or not isinstance(data.get("nonce"), str):
        return None
    if data.get("password") != passwords.digest(account):
        return None  # logged in with a password changed since: perhaps a thief's browser
    return data["nonce"]


def lockout_minutes(email, address, device=None):
    """Minutes left before this email may try again from this address, or 0.

    Within LOGIN_LOCKOUT seconds, LOGIN_MAX_FAILURES failures for one account from
    one address lock that pair out; five times as many from one address across
    accounts, or for one account across addresses, lock the address or the account.
    A browser with a device cookie for the account (`device`, its nonce) is not held
    by the account's lockout, so strangers cannot lock the owner out, unless the
    device itself failed LOGIN_MAX_FAILURES times (a stolen cookie guesses no more).
    """
    window = timedelta(seconds=current_app.config["LOGIN_LOCKOUT"])
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    recent = LoginFailure.select().where(LoginFailure.at > utcnow() - window)
    checks = [
        (recent.where((LoginFailure.email == email) & (LoginFailure.address == address)), limit),
        (recent.where(LoginFailure.address == address), ADDRESS_WIDE * limit),
    ]
    if device is None or recent.where(LoginFailure.device == device).count() >= limit:
        checks.append((recent.where(LoginFailure.email == email), ADDRESS_WIDE * limit))
    for failures, allowed in checks:
        # The lockout ends when the allowed-th latest failure leaves the window.
        unlocking = failures.order_by(LoginFailure.at.desc()).offset(allowed - 1).limit(1).first()
        if unlocking is not None:
            return max(1, math.ceil((unlocking.at + window - utcnow()).total_seconds() / 60))
    return 0


def admit_attempt(email, address, device=None):
    """Count a log-in attempt against the limits and record it, in one transaction,
    before the (slow) password check: concurrent guesses can never check more
    passwords than the limits allow. Returns the minutes of lockout left, or 0.

    The attempt stands as a failure until the password proves right.
    """
    with db.atomic():  # SQLite: BEGIN IMMEDIATE serialises this already
        if db.for_update:
            db.execute_sql("LOCK TABLE login_failure IN SHARE ROW EXCLUSIVE MODE")
        minutes = lockout_minutes(email, address, device)
        if not minutes:
            window = timedelta(seconds=current_app.config["LOGIN_LOCKOUT"])
            LoginFailure.delete().where(LoginFailure.at <= utcnow() - window).execute()
            LoginFailure.create(email=email, address=address, device=device)
        return minutes


def forget_failures(email, address):
    """A right password clears this email's failures from this address."""
    LoginFailure.delete().where((LoginFailure.email == email) & (LoginFailure.address == address)).execute()
