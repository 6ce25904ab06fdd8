"""Slotlens: stop-slot (drop-off) analytics for chatbot teams.

`create_app()` is the one place where settings are read and the pieces are
wired together; `flask --app app ...` finds it by name.
"""
import logging
import os
import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import Flask, redirect, url_for
from peewee import DatabaseError, InterfaceError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import commands
import database
import languages
import models
from database import migrations
from blueprints import error_pages
from extensions import csrf, init_queue, mail
import outcomes
from reporting.localtime import format_local, relative
from webguard import headers, redaction, request_log

SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 32

DEFAULTS = {
    "SECRET_KEY": None,
    "DATABASE_URL": None,  # default: SQLite file in the instance folder
    "QUEUE_URL": None,  # default: SQLite file in the instance folder
    "REPORTS_DIR": None,  # default: "reports" in the instance folder
    "IMPORTS_DIR": None,  # default: "imports" in the instance folder (uploads wait there)
    "BASE_URL": "http://127.0.0.1:5000",
    "TIMEZONE": "UTC",
    "REPORT_LINK_TTL": 24 * 3600,
    "EXPORT_SLA": 24 * 3600,
    "EXPORT_MAX_PENDING": 10,
    "EXPORT_MAX_PER_HOUR": 30,  # export requests one account may make in an hour (each is one email per agent)
    "SCHEDULED_MAX_PENDING": 60,  # requests of one account's subscriptions in flight before its next runs wait
    "SUBSCRIPTION_MAX_PER_ACCOUNT": 20,
    "EXPORT_LEASE": 60,  # seconds a worker holds an item without renewing before others may take it
    "EXPORT_RETRY_DELAY": 30,  # seconds before the first retry after a mail failure (doubling after)
    "EXPORT_RETRY_FOR": 3600,  # seconds of mail failures before an item is marked failed
    "EXPORT_BUILD_DELAY": 0,  # seconds of artificial delay before building: fault-injection tests only
    "MAIL_TIMEOUT": 30,  # seconds any network call of a worker may block
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    "IMPORT_MAX_BYTES": 200 * 1024 * 1024,  # an upload on Admin → Import
    "IMPORT_LEASE": 120,  # seconds a worker holds an import job without renewing before another may take it over
    "API_MAX_BATCH": 10_000,
    "API_MAX_NAME_LENGTH": 200,  # ids, slot keys and names, types, channels (at most 255)
    "API_MAX_TEXT_LENGTH": 20_000,  # bot and message texts
    "API_MAX_CHANNELS": 100,  # distinct channels one agent may have
    "FILTER_MAX_CHANNELS": 50,  # channels one filter may pick
    "LOGIN_MAX_FAILURES": 10,  # failed log-ins per account and address before a lockout
    "LOGIN_LOCKOUT": 15 * 60,  # seconds the failures are remembered
    "MAIL_DEFAULT_SENDER": "Slotlens <reports@slotlens.local>",
    "MAIL_CATCHER_DIR": None,  # set by `make run` when it starts the local catcher
    "TRANSCRIPT_DAYS": 0,  # the texts of dialogs that started longer ago are removed; 0 keeps them
    "OUTCOME_IDLE_MINUTES": 30,  # a dialog no outcome rule matches is Abandoned once its latest event is this old
    "QUEUE_NAME": "slotlens",  # several installations may share one Redis with different names
    "QUEUE_IMMEDIATE": False,
    "TRUSTED_PROXIES": 0,  # reverse proxies in front of the web server (for client addresses and https)
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}


POSITIVE_NUMBERS = (
    "REPORT_LINK_TTL",
    "EXPORT_SLA",
    "EXPORT_MAX_PENDING",
    "EXPORT_MAX_PER_HOUR",
    "SCHEDULED_MAX_PENDING",
    "SUBSCRIPTION_MAX_PER_ACCOUNT",
    "API_MAX_CHANNELS",
    "FILTER_MAX_CHANNELS",
    "EXPORT_LEASE",
    "EXPORT_RETRY_DELAY",
    "EXPORT_RETRY_FOR",
    "OUTCOME_IDLE_MINUTES",
    "API_MAX_BATCH",
    "API_MAX_NAME_LENGTH",
    "API_MAX_TEXT_LENGTH",
    "IMPORT_MAX_BYTES",
    "IMPORT_LEASE",
    "MAIL_TIMEOUT",
    "LOGIN_MAX_FAILURES",
    "LOGIN_LOCKOUT",
)


class ConfigError(click.ClickException):
    """A setting is missing or wrong; the message says which and how to fix it.

    A ClickException, so that `flask --app app ...` prints it as one line."""


def create_app(test_config=None, instance_path=None):
    """Build the Slotlens web app: settings, database, queue, mail, blueprints."""
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env()
    if test_config:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    _resolve_paths(app)
    _check_settings(app)

    database.init_app(app)
    request_log.init_app(app)
    _check_schema()
    redaction.init_app(app)
    headers.init_app(app)
    init_queue(app)
    mail.init_app(app)
    csrf.init_app(app)
    languages.init_app(app)
    commands.init_app(app)

    from blueprints import admin, analytics, api, auth, catalogue, dialogs, exports, health, imports, subscriptions

    for module in (auth, analytics, dialogs, exports, subscriptions, api, admin, catalogue, imports, health):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # the API authenticates with a bearer key, not a cookie
    if app.config["MAIL_CATCHER_DIR"]:
        from devtools import outbox  # `make run`'s local mail catcher; never loaded in production

        app.register_blueprint(outbox.bp)

    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.add_url_rule("/", "index", lambda: redirect(url_for("analytics.index")))
    app.add_template_filter(lambda utc: format_local(utc, app.config["TIMEZONE"]), "local")
    app.add_template_filter(lambda utc: relative(utc, models.utcnow()), "ago")
    app.add_template_global(outcomes.LABELS.items(), "OUTCOME_LABELS")
    app.add_template_filter(outcomes.label, "outcome_label")
    app.register_error_handler(HTTPException, error_pages.page)
    return app


def _resolve_paths(app):
    """Fill the defaults that live in the instance folder."""
    instance = app.instance_path
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(instance, "slotlens.db")
    if not app.config["QUEUE_URL"]:
        app.config["QUEUE_URL"] = "sqlite:///" + os.path.join(instance, "queue.db")
    if not app.config["REPORTS_DIR"]:
        app.config["REPORTS_DIR"] = os.path.join(instance, "reports")
    if not app.config["IMPORTS_DIR"]:
        app.config["IMPORTS_DIR"] = os.path.join(instance, "imports")
    if not app.config["SECRET_KEY"]:
        key_file = os.path.join(instance, SECRET_KEY_FILE)
        if os.path.exists(key_file):
            with open(key_file) as f:
                app.config["SECRET_KEY"] = f.read().strip()
    app.config["BASE_URL"] = app.config["BASE_URL"].rstrip("/")


def _check_settings(app):
    """Refuse to start with settings that would fail later or be unsafe."""
    key = app.config["SECRET_KEY"]
    if not app.testing and (not key or len(key) < MIN_SECRET_KEY_LENGTH):
        raise ConfigError(
            f"FLASK_SECRET_KEY must be set to at least {MIN_SECRET_KEY_LENGTH} random "
            f"characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`),"
            f" or written to {os.path.join(app.instance_path, SECRET_KEY_FILE)}. "
            "`make run` creates one for local use."
        )
    try:
        ZoneInfo(app.config["TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"FLASK_TIMEZONE={app.config['TIMEZONE']!r} is not a known time zone "
            "(use an IANA name such as 'UTC' or 'Europe/Berlin')."
        ) from None
    for name in POSITIVE_NUMBERS:
        value = app.config[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"FLASK_{name} must be a positive number, not {value!r}.")
    static = os.path.realpath(app.static_folder)
    for name, what in (("REPORTS_DIR", "reports"), ("IMPORTS_DIR", "uploaded imports")):
        if os.path.commonpath([os.path.realpath(app.config[name]), static]) == static:
            raise ConfigError(f"FLASK_{name} must not be inside the static folder: {what} would be public.")
    if app.config["API_MAX_NAME_LENGTH"] > 255:
        raise ConfigError("FLASK_API_MAX_NAME_LENGTH must be at most 255 (the database column size).")
    days = app.config["TRANSCRIPT_DAYS"]
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise ConfigError(f"FLASK_TRANSCRIPT_DAYS must be a whole number of days, 0 (keep texts) or more, not {days!r}.")
    delay = app.config["EXPORT_BUILD_DELAY"]
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise ConfigError(f"FLASK_EXPORT_BUILD_DELAY must be a number of seconds, 0 or more, not {delay!r}.")


def _check_schema():
    """Refuse to serve or work on a database older than the code (every page and
    task would fail on a missing table or column), or newer (after a rollback of
    the code, it may hold what this code cannot read). `flask` commands other than
    `run` skip this, so that `upgrade-db` can bring the database up to date; a
    database that cannot be reached yet is the health check's concern, not start-up's."""
    command = click.get_current_context(silent=True)
    if command is not None and command.info_name != "run":
        return
    try:
        with database.connection():
            found = migrations.current_version()
    except (DatabaseError, InterfaceError) as exc:
        if not database.is_transient(exc):
            raise ConfigError(f"Could not read the database's schema version (check FLASK_DATABASE_URL): {exc}") from exc
        logging.getLogger("slotlens").warning("could not check the database's schema version: %s", exc)
        return
    if 0 < found < migrations.LATEST:
        raise ConfigError(
            f"The database has schema version {found}; this Slotlens needs version {migrations.LATEST}."
            " Back it up, then run `flask --app app upgrade-db`."
        )
    if found > migrations.LATEST:
        raise ConfigError(
            f"The database has schema version {found}, newer than this Slotlens (version {migrations.LATEST})."
            " Run the Slotlens that upgraded it, or restore the backup taken before the upgrade."
        )


def write_secret_key(instance_path):
    """Create the instance's secret key file once (used by `make run`)."""
    os.makedirs(instance_path, exist_ok=True)
    key_file = os.path.join(instance_path, SECRET_KEY_FILE)
    if not os.path.exists(key_file):
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return key_file
