"""Logging in and out, changing one's password, and the `login_required` /
`admin_required` guards."""
import functools
import hashlib
import math
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from forms import LoginForm, PasswordChangeForm, ReportFilesForm
from database import db
from ingest.rules import has_control
from models import Account, LoginFailure, utcnow

bp = Blueprint("auth", __name__)
ADDRESS_WIDE = 5  # an address, or an account across addresses, may fail this many times the per-pair limit
DEVICE_COOKIE = "slotlens_device"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.before_app_request
def load_account():
    """The logged-in account, if its session is still valid (not logged out, not disabled)."""
    account_id = session.get("account_id")
    account = Account.get_or_none(Account.id == account_id) if account_id else None
    if account is not None and (account.is_disabled or session.get("session_version") != account.session_version):
        session.clear()
        account = None
    g.account = account


def start_session(account):
    session.clear()
    session["account_id"] = account.id
    session["session_version"] = account.session_version


def login_required(view):
    """Send anonymous visitors to the login page, then back to where they were going."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.account is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not g.account.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def safe_next(target):
    """Only a path on this site: never an open redirect to somewhere else."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or has_control(target):
        return url_for("analytics.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("analytics.index")
    return target


def device_serializer():
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="login-device", signer_kwargs={"digest_method": hashlib.sha256}
    )


def remember_device(response, account):
    """Give this browser a device cookie (OWASP's defence against lockout abuse):
    signed, naming the account, its password (a digest, so that a new password
    revokes every device) and a nonce of its own, sent only to the login page."""
    token = device_serializer().dumps(
        {"account": account.id, "password": password_digest(account), "nonce": secrets.token_urlsafe(16)}
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
    if data.get("password") != password_digest(account):
        return None  # logged in with a password changed since: perhaps a thief's browser
    return data["nonce"]


def password_digest(account):
    """Changes whenever the password does (its hash is salted anew each time)."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


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


@functools.cache
def dummy_hash():
    """Checked when no account has the email, so that a wrong email takes as long as a wrong password."""
    return generate_password_hash("no account has this email")


@bp.route("/login", methods=("GET", "POST"))
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email, address = form.email.data.strip().lower(), request.remote_addr or "unknown"
        account = Account.get_or_none(Account.email == email)
        minutes = admit_attempt(email, address, device_nonce(account))
        if minutes:
            flash(f"Too many failed log-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.", "error")
            return render_template("auth/login.html", form=form), 429
        if account is None:
            check_password_hash(dummy_hash(), form.password.data)
        elif account.check_password(form.password.data):
            LoginFailure.delete().where((LoginFailure.email == email) & (LoginFailure.address == address)).execute()
            if account.is_disabled:
                flash("This account is disabled. Ask an admin to enable it.", "error")
                return render_template("auth/login.html", form=form), 403
            start_session(account)
            response = redirect(safe_next(request.args.get("next")))
            remember_device(response, account)
            return response
        flash("Wrong email or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=("POST",))
def logout():
    """Ends this session and every other session of the account (a stolen cookie too)."""
    if g.account is not None:
        g.account.end_sessions()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=("GET", "POST"))
@login_required
def change_password():
    """A new password ends every other session of the account; this one goes on."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if not g.account.check_password(form.current.data):
            form.current.errors.append("This is not your current password.")
        else:
            g.account.set_password(form.new.data)
            g.account.save(only=[Account.password_hash])  # never is_disabled or session_version as read: an admin may change them meanwhile
            g.account.end_sessions()
            start_session(g.account)
            flash("Password changed. Your other sessions were logged out.", "success")
            return redirect(url_for("analytics.index"))
    return account_page(form=form), 400 if form.errors else 200


@bp.route("/account/files", methods=("POST",))
@login_required
def report_files():
    """How this account's CSV files are written, from its next report on."""
    files_form = ReportFilesForm()
    if files_form.validate_on_submit():
        g.account.csv_separator = files_form.csv_separator.data
        g.account.save(only=[Account.csv_separator])
        flash("Saved: your next reports' CSV files use this separator.", "success")
        return redirect(url_for("auth.change_password"))
    return account_page(files_form=files_form), 400


def account_page(form=None, files_form=None):
    """The account page: how report files are written, and the password."""
    return render_template(
        "auth/password.html",
        form=form or PasswordChangeForm(formdata=None),
        files_form=files_form or ReportFilesForm(formdata=None, csv_separator=g.account.csv_separator),
    )
