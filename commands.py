"""The `flask --app app ...` commands. Each prints one clear line, or fails with one."""
import os
import sqlite3

import click
from flask import current_app
from flask.cli import with_appcontext
from peewee import IntegrityError, SqliteDatabase

import importers
from access import api_keys, password_links, passwords, tokens
from access.logins import MAX_EMAIL_LENGTH
from access.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from export_queue.health import queue_health
from importers import ImportFailed, cursor, rasa_store
from importers.csv_log import CsvLog, parse_mapping, parse_sender_values, parse_timezone
from importers.jsonl import JsonLines
from importers.rasa import TrackerFiles
from database import db, migrations
from ingest.rules import CONTROL_MESSAGE, has_control
from models import Account, Agent, Grant
from outcomes import recompute
from outcomes import rules as outcome_rules
from privacy import erasure, retention

UNREAD_NAMED = 10  # files named in the error when some could not be read


def init_app(app):
    for command in (init_db, upgrade_db, backup, create_user, reset_password, create_agent, rotate_key, grant, demo_data, import_events, import_rasa, import_csv, queue_status, purge_texts, erase_dialog,
                    set_outcomes, show_outcomes):
        app.cli.add_command(command)


def find_agent(name):
    agent = Agent.get_or_none(Agent.name == name)
    if agent is None:
        raise click.ClickException(f"No agent named {name!r}. Create it with: flask --app app create-agent {name!r}")
    return agent


def find_account(email):
    account = Account.get_or_none(Account.email == email.strip().lower())
    if account is None:
        raise click.ClickException(f"No account {email!r}. Create it with: flask --app app create-user {email}")
    return account


@click.command("init-db")
@with_appcontext
def init_db():
    """Create the database tables (safe to run again; upgrades an older database)."""
    upgrade_and_report()


@click.command("upgrade-db")
@with_appcontext
def upgrade_db():
    """Bring the database schema up to date, keeping every row (safe to run again)."""
    upgrade_and_report()


def upgrade_and_report():
    found, latest = migrations.upgrade()
    if found == latest:
        click.echo(f"Database ready (schema version {latest}).")
    elif found == 0:
        click.echo(f"Database created (schema version {latest}).")
    else:
        click.echo(f"Database upgraded from schema version {found} to {latest}.")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def backup(path):
    """Copy the SQLite database to PATH while Slotlens keeps running (online backup)."""
    if not isinstance(db.obj, SqliteDatabase):
        raise click.ClickException(
            "backup copies SQLite databases. For PostgreSQL use pg_dump, e.g.: pg_dump -Fc -f slotlens.dump DBNAME"
        )
    if os.path.exists(path):
        raise click.ClickException(f"{path} exists already; choose a new file name.")
    target = sqlite3.connect(path)
    with target:
        db.connection().backup(target)
    target.close()
    click.echo(f"Backed up the database to {path} ({os.path.getsize(path):,} bytes).")


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--password", required=True, help=f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.")
@click.option("--admin", is_flag=True, help="May manage accounts and agents and sees every agent.")
def create_user(email, password, admin):
    """Create an account that logs in with EMAIL."""
    email = email.strip().lower()
    if "@" not in email or len(email) > MAX_EMAIL_LENGTH or has_control(email):
        raise click.ClickException(f"{email!r} is not an email address.")
    check_password_length(password)
    account = Account(email=email, is_admin=admin)
    passwords.assign(account, password)
    try:
        account.save()
    except IntegrityError:
        raise click.ClickException(f"An account {email!r} already exists.") from None
    click.echo(f"Created {'admin ' if admin else ''}account {email}.")


def check_password_length(password):
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise click.ClickException(f"The password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.")


@click.command("reset-password")
@with_appcontext
@click.argument("email")
@click.option("--password", help=f"Set this password now ({MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters) instead of printing a link.")
def reset_password(email, password):
    """Print a one-time link (an hour) that sets EMAIL's password, or set it with
    --password: the last resort when no email arrives. Either ends its sessions once set."""
    account = find_account(email)
    if password is None:
        if account.is_disabled:
            raise click.ClickException(f"Account {account.email} is disabled: enable it on Admin first, or set a password with --password.")
        click.echo(f"Link to set a new password for {account.email} (works once, for an hour): {password_links.link(account, tokens.RESET)}")
        return
    check_password_length(password)
    if not password_links.set_password(account, password):
        raise click.ClickException(f"The password of {account.email} changed meanwhile; nothing was set. Run the command again.")
    click.echo(f"Password set for {account.email}; its sessions were logged out.")


@click.command("create-agent")
@with_appcontext
@click.argument("name")
def create_agent(name):
    """Create an agent and print its API key (shown only this once)."""
    name = name.strip()
    if not name:
        raise click.ClickException("The agent name must not be empty.")
    if has_control(name):
        raise click.ClickException(f"The agent name {CONTROL_MESSAGE}.")
    try:
        with db.atomic():
            agent, api_key = api_keys.create_agent(name)
    except IntegrityError:
        raise click.ClickException(f"An agent named {name!r} already exists.") from None
    click.echo(f"Created agent {agent.name!r}. API key (shown only now): {api_key}")


@click.command("rotate-key")
@click.argument("agent")
@with_appcontext
def rotate_key(agent):
    """Give AGENT a new API key; the old one stops working at once."""
    agent = find_agent(agent)
    api_key = api_keys.rotate(agent)
    click.echo(f"New API key for {agent.name!r} (shown only now; the old key no longer works): {api_key}")


@click.command("grant")
@with_appcontext
@click.argument("email")
@click.argument("agent")
def grant(email, agent):
    """Let the account EMAIL see and export AGENT."""
    account, agent = find_account(email), find_agent(agent)
    Grant.insert(account=account, agent=agent).on_conflict_ignore().execute()
    click.echo(f"{account.email} can now see {agent.name!r}.")


@click.command("demo-data")
@with_appcontext
def demo_data():
    """Load demo agents, dialogs and a demo login (once; does nothing if present)."""
    migrations.upgrade()
    from devtools import demo  # a development helper: production never loads it

    click.echo(demo.load())


@click.command("import-events")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--agent", "agent_name", required=True, help="The agent the events belong to.")
def import_events(file, agent_name):
    """Import events from a JSON Lines file (one event per line), like POST /api/v1/events."""
    run_import(find_agent(agent_name), JsonLines(file))


@click.command("import-rasa")
@with_appcontext
@click.argument("source")
@click.option("--agent", "agent_name", required=True, help="The agent the conversations belong to.")
def import_rasa(source, agent_name):
    """Import Rasa conversations: a tracker JSON file, a folder of them, or the URL of
    Rasa's SQL tracker store (sqlite:///rasa.db, postgresql://…), read incrementally."""
    agent = find_agent(agent_name)
    if "://" not in source:
        run_import(agent, importing(lambda: TrackerFiles(source)))
        return
    key = rasa_store.source_key(source)
    stopped = cursor.stopped_at(agent, key)
    store = importing(lambda: rasa_store.TrackerStore(source, after=stopped))
    if store.recreated:
        click.echo(f"{key} ends at row {store.last}, before row {stopped} where the last run stopped: "
                   "it was recreated, so it is read from its first row (events already stored are skipped as such).")
    run_import(agent, store)
    cursor.advance(agent, key, store.last)
    click.echo(f"Read {store.total} rows of {key} (after row {store.after}); the next run starts after row {store.last}.")


@click.command("import-csv")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--agent", "agent_name", required=True, help="The agent the events belong to.")
@click.option("--map", "mapping", required=True, help="dialog_id=COL,timestamp=COL,sender=COL[,channel=COL][,slot=COL][,text=COL]")
@click.option("--sender-values", default="", help="How the file names senders, e.g. user=client,bot=operator.")
@click.option("--timezone", "zone", default="", help="The time zone of timestamps without an offset, e.g. Europe/Berlin.")
def import_csv(file, agent_name, mapping, sender_values, zone):
    """Import a CSV log exported from any platform, mapping its columns onto events."""
    agent = find_agent(agent_name)
    try:
        options = dict(mapping=parse_mapping(mapping), sender_values=parse_sender_values(sender_values), zone=parse_timezone(zone))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    run_import(agent, importing(lambda: CsvLog(file, **options)))


def importing(open_source):
    """The source `open_source()` returns, or the reason it cannot be read as a clear error."""
    try:
        return open_source()
    except ImportFailed as exc:
        raise click.ClickException(str(exc)) from None


def run_import(agent, source):
    """Write the source's events with a progress bar, then say what happened."""
    with click.progressbar(length=max(source.total, 1), label="Importing") as bar:

        def advance(done, total, outcome):
            bar.update(done - bar.pos)

        try:
            outcome = importers.write_events(agent, source, current_app.config, on_progress=advance)
        except ImportFailed as exc:
            raise click.ClickException(f"{exc} (what was imported before this stays; importing again skips it)") from None
    click.echo(outcome.summary(agent.name, source.unit))
    for line in outcome.details():
        click.echo(line)
    unread = getattr(source, "unread", ())
    if unread:  # exit non-zero, for cron to notice; skipped events in files that were read do not count
        named = ", ".join(unread[:UNREAD_NAMED]) + (f" and {len(unread) - UNREAD_NAMED} more" if len(unread) > UNREAD_NAMED else "")
        if len(unread) == len(source.files):
            raise click.ClickException(f"{named} could not be read; nothing was imported.")
        raise click.ClickException(f"{len(unread)} of {len(source.files)} files could not be read ({named}); the rest was imported.")


@click.command("queue-status")
@with_appcontext
def queue_status():
    """Show the export queue: waiting, building, failed, and how old the oldest is."""
    health = queue_health()
    for label, value in health.lines():
        click.echo(f"{label}: {value}")


@click.command("purge-texts")
@with_appcontext
def purge_texts():
    """Remove now the texts of dialogs older than TRANSCRIPT_DAYS (the worker does it hourly)."""
    days = current_app.config["TRANSCRIPT_DAYS"]
    if not days:
        click.echo("TRANSCRIPT_DAYS is 0: texts are kept, nothing was removed.")
        return
    purged = retention.purge_texts(days)
    click.echo(f"Removed the texts of {purged:,} dialog(s) that started more than {days} days ago; their counts stay.")


@click.command("erase-dialog")
@with_appcontext
@click.argument("dialog_id")
@click.option("--agent", "agent_name", required=True, help="The agent the dialog belongs to.")
def erase_dialog(dialog_id, agent_name):
    """Erase one dialog on request: its texts go and its ID becomes a random erased-… one."""
    agent = find_agent(agent_name)
    erased_id = erasure.erase_dialog(agent, dialog_id)
    if erased_id is None:
        raise click.ClickException(f"{agent.name} has no dialog with that ID (an erased dialog's ID is gone).")
    click.echo(f"Erased the dialog: its texts are removed and its ID is now {erased_id}; {agent.name}'s counts stay.")


@click.command("set-outcomes")
@with_appcontext
@click.argument("agent_name", metavar="AGENT")
@click.argument("file", type=click.File("r", encoding="utf-8"))
def set_outcomes(agent_name, file):
    """Replace AGENT's outcome rules with those of a YAML file (a list, in rule order); every dialog is recomputed in the background."""
    agent = find_agent(agent_name)
    try:
        rules = outcome_rules.from_yaml(file.read(), recompute.slot_types(agent))
    except outcome_rules.RulesError as refused:
        raise click.ClickException(
            f"{file.name}: nothing was saved, {agent.name}'s rules stay as they were:\n  " + "\n  ".join(refused.messages)
        ) from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{file.name} is not UTF-8 text: nothing was saved.") from None
    recompute.change_rules(agent, rules)
    click.echo(f"Saved {len(rules)} outcome rule(s) for {agent.name}; its dialogs are being recomputed by the worker.")


@click.command("show-outcomes")
@with_appcontext
@click.argument("agent_name", metavar="AGENT")
def show_outcomes(agent_name):
    """Print AGENT's outcome rules as the YAML that set-outcomes reads."""
    agent = find_agent(agent_name)
    click.echo(outcome_rules.to_yaml(outcome_rules.from_json(agent.outcome_rules)), nl=False)
