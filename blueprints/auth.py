"""Logging in and out, and the `login_required` / `admin_required` guards."""
import functools
import math
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from forms import LoginForm
from models import Account, LoginFailure, utcnow

bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_account():
    account_id = session.get("account_id")
    g.account = Account.get_or_none(Account.id == account_id) if account_id else None


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
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("analytics.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("analytics.index")
    return target


def lockout_minutes(email, address):
    """Minutes left before this email may try again from this address, or 0.

    LOGIN_MAX_FAILURES failures for one account from one address, or five times as
    many from one address across accounts, within LOGIN_LOCKOUT seconds, lock it out.
    """
    window = timedelta(seconds=current_app.config["LOGIN_LOCKOUT"])
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    recent = LoginFailure.select().where((LoginFailure.address == address) & (LoginFailure.at > utcnow() - window))
    for failures, allowed in ((recent.where(LoginFailure.email == email), limit), (recent, 5 * limit)):
        # The lockout ends when the allowed-th latest failure leaves the window.
        unlocking = failures.order_by(LoginFailure.at.desc()).offset(allowed - 1).limit(1).first()
        if unlocking is not None:
            return max(1, math.ceil((unlocking.at + window - utcnow()).total_seconds() / 60))
    return 0


def record_failure(email, address):
    """Remember a failed log-in, and forget this address's failures older than the window."""
    window = timedelta(seconds=current_app.config["LOGIN_LOCKOUT"])
    LoginFailure.delete().where((LoginFailure.address == address) & (LoginFailure.at <= utcnow() - window)).execute()
    LoginFailure.create(email=email, address=address)


@bp.route("/login", methods=("GET", "POST"))
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email, address = form.email.data.strip().lower(), request.remote_addr or "unknown"
        minutes = lockout_minutes(email, address)
        if minutes:
            flash(f"Too many failed log-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.", "error")
            return render_template("auth/login.html", form=form), 429
        account = Account.get_or_none(Account.email == email)
        if account is not None and account.check_password(form.password.data):
            LoginFailure.delete().where((LoginFailure.email == email) & (LoginFailure.address == address)).execute()
            session.clear()
            session["account_id"] = account.id
            return redirect(safe_next(request.args.get("next")))
        record_failure(email, address)
        flash("Wrong email or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=("POST",))
def logout():
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
