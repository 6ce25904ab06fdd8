"""Logging in and out, and the `login_required` / `admin_required` guards."""
import functools
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from forms import LoginForm
from models import Account

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


@bp.route("/login", methods=("GET", "POST"))
def login():
    form = LoginForm()
    if form.validate_on_submit():
        account = Account.get_or_none(Account.email == form.email.data.strip().lower())
        if account is not None and account.check_password(form.password.data):
            session.clear()
            session["account_id"] = account.id
            return redirect(safe_next(request.args.get("next")))
        flash("Wrong email or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=("POST",))
def logout():
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
