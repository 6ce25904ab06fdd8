"""Logging in and out, and the account page: the password and how report files are written."""
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext, refresh
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, RadioField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired

import languages
from access import logins, password_links, passwords, sessions, tokens
from blueprints.fields import EMAIL_BOUND, NEW_PASSWORD, PASSWORD_BOUND
from blueprints.guards import login_required
from ingest.rules import has_control
from models import Account, utcnow

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), EMAIL_BOUND])
    password = PasswordField(_l("Password"), validators=[DataRequired(), PASSWORD_BOUND])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), EMAIL_BOUND])


class NewPasswordForm(FlaskForm):
    new = PasswordField(_l("New password"), validators=NEW_PASSWORD)
    repeat = PasswordField(_l("New password again"), validators=[EqualTo("new", message=_l("The two new passwords differ."))])


class PasswordChangeForm(NewPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), PASSWORD_BOUND])


CSV_SEPARATORS = {
    ",": _l("Comma, decimal point: as the report has always been (LibreOffice, Google Sheets, Excel in English)"),
    ";": _l("Semicolon, decimal comma: for Excel where numbers are written 3,5 (German, French, Spanish, …)"),
}


class ReportFilesForm(FlaskForm):
    csv_separator = RadioField(
        _l("CSV files"), choices=[SelectChoice(value, label) for value, label in CSV_SEPARATORS.items()], validators=[InputRequired()]
    )


class LanguageForm(FlaskForm):
    language = RadioField(
        _l("Language"), choices=[SelectChoice(code, name) for code, name in languages.LANGUAGES.items()], validators=[InputRequired()]
    )



@bp.before_app_request
def load_account():
    g.account = sessions.signed_in_account()


def safe_next(target):
    """Only a path on this site: never an open redirect to somewhere else."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or has_control(target):
        return url_for("analytics.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("analytics.index")
    return target


def admitted(form):
    """The account of the form's email (or None), and the minutes of lockout left (0:
    go on). The attempt counts against the log-in limits first (`logins.admit_attempt`):
    asking for reset links is held like guessing passwords."""
    email = form.email.data.strip().lower()
    account = Account.get_or_none(Account.email == email)
    return account, logins.admit_attempt(email, client_address(), logins.device_nonce(account))


def client_address():
    return request.remote_addr or "unknown"


def try_again(minutes):
    return ngettext("Try again in %(num)s minute.", "Try again in %(num)s minutes.", minutes)


@bp.route("/login", methods=("GET", "POST"))
def login():
    form = LoginForm()
    if form.validate_on_submit():
        account, minutes = admitted(form)
        if minutes:
            flash(_("Too many failed log-ins. %(try_again)s", try_again=try_again(minutes)), "error")
            return render_template("auth/login.html", form=form), 429
        if passwords.matches(account, form.password.data):
            logins.forget_failures(account.email, client_address())
            if account.is_disabled:
                flash(_("This account is disabled. Ask an admin to enable it."), "error")
                return render_template("auth/login.html", form=form), 403
            return logged_in(account, safe_next(request.args.get("next")))
        flash(_("Wrong email or password."), "error")
    return render_template("auth/login.html", form=form)


def logged_in(account, target):
    """Start the account's session, note the log-in (for Admin) and the browser's language
    (for emails, until the account picks one), remember this browser (its device
    cookie), then go to `target`."""
    sessions.start(account)
    Account.update(last_login_at=utcnow(), browser_language=languages.browser_language()).where(Account.id == account.id).execute()
    response = redirect(target)
    logins.remember_device(response, account)
    return response


@bp.route("/login/forgot", methods=("GET", "POST"))
def forgot_password():
    """Email a reset link. The answer is the same whether the address has an account
    or not, so that nobody learns here who has one."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        account, minutes = admitted(form)
        if minutes:
            flash(_("Too many requests for this address. %(try_again)s", try_again=try_again(minutes)), "error")
            return render_template("auth/forgot.html", form=form), 429
        if account is not None and not account.is_disabled:
            password_links.send_link(account.id, tokens.RESET.name, languages.page_language())  # for an account with none yet
        return render_template("auth/forgot.html", form=form, sent=True)
    return render_template("auth/forgot.html", form=form)


@bp.route("/login/<any(reset, join):purpose>/<token>", methods=("GET", "POST"))
def set_password(purpose, token):
    """Set a password from an emailed link (a reset or an invitation), then log in.
    The token is in the path, where the request logs redact it (webguard.redaction)."""
    purpose = tokens.PURPOSES[purpose]
    try:
        account = password_links.account_for(purpose, token)
    except tokens.LinkRefused as refused:
        return link_refused(purpose, refused.reason)
    form = NewPasswordForm()
    if form.validate_on_submit():
        if not password_links.set_password(account, form.new.data):
            return link_refused(purpose, tokens.SPENT)
        logins.forget_failures(account.email, client_address())
        flash(_("Your password is set. Welcome to Slotlens.") if purpose == tokens.INVITATION
              else _("Your password is changed. Your other sessions were logged out."), "success")
        return logged_in(account, url_for("analytics.index"))
    return render_template("auth/set_password.html", form=form, account=account, purpose=purpose.name), 400 if form.errors else 200


def link_refused(purpose, reason):
    """Why the link sets no password, and how to get one that does."""
    status = 404 if reason == tokens.INVALID else 410
    return render_template("auth/link_refused.html", purpose=purpose.name, reason=reason), status


@bp.route("/logout", methods=("POST",))
def logout():
    """Ends this session and every other session of the account (a stolen cookie too)."""
    if g.account is not None:
        sessions.end_all(g.account)
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=("GET", "POST"))
@login_required
def change_password():
    """A new password ends every other session of the account; this one goes on."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if not passwords.matches(g.account, form.current.data):
            form.current.errors.append(_("This is not your current password."))
        else:
            passwords.assign(g.account, form.new.data)
            g.account.save(only=[Account.password_hash])  # never is_disabled or session_version as read: an admin may change them meanwhile
            sessions.end_all(g.account)
            sessions.start(g.account)
            flash(_("Password changed. Your other sessions were logged out."), "success")
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
        flash(_("Saved: your next reports' CSV files use this separator."), "success")
        return redirect(url_for("auth.change_password"))
    return account_page(files_form=files_form), 400


@bp.route("/account/language", methods=("POST",))
@login_required
def choose_language():
    """The language of this account's pages and emails, from now on."""
    language_form = LanguageForm()
    if language_form.validate_on_submit():
        g.account.language = language_form.language.data
        g.account.save(only=[Account.language])
        refresh()
        flash(_("Saved: Slotlens speaks English to you, on its pages and in its emails."), "success")
        return redirect(url_for("auth.change_password"))
    return account_page(language_form=language_form), 400


def account_page(form=None, files_form=None, language_form=None):
    """The account page: its language, how report files are written, and the password."""
    return render_template(
        "auth/password.html",
        form=form or PasswordChangeForm(formdata=None),
        files_form=files_form or ReportFilesForm(formdata=None, csv_separator=g.account.csv_separator),
        language_form=language_form or LanguageForm(formdata=None, language=languages.page_language()),
    )
