"""The `flask --app app ...` commands. Each prints one clear line, or fails with one."""
import json
import os
import sqlite3

import click
from flask import current_app
from flask.cli import with_appcontext
from peewee import IntegrityError, SqliteDatabase

import ingestion
import migrations
from export_queue.health import queue_health
from forms import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from models import Account, Agent, Grant, db
from names import CONTROL_MESSAGE, has_control

IMPORT_BATCH = 1000
SKIPS_SHOWN = 50


def init_app(app):
    for command in (init_db, upgrade_db, backup, create_user, create_agent, rotate_key, grant, demo_data, import_events, queue_status):
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
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise click.ClickException(f"The password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.")
    account = Account(email=email, is_admin=admin)
    account.set_password(password)
    try:
        account.save()
    except IntegrityError:
        raise click.ClickException(f"An account {email!r} already exists.") from None
    click.echo(f"Created {'admin ' if admin else ''}account {email}.")


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
            agent, api_key = Agent.create_with_key(name)
    except IntegrityError:
        raise click.ClickException(f"An agent named {name!r} already exists.") from None
    click.echo(f"Created agent {agent.name!r}. API key (shown only now): {api_key}")


@click.command("rotate-key")
@click.argument("agent")
@with_appcontext
def rotate_key(agent):
    """Give AGENT a new API key; the old one stops working at once."""
    agent = find_agent(agent)
    api_key = agent.rotate_api_key()
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
    agent = find_agent(agent_name)
    limits = ingestion.Limits.from_config(current_app.config)
    skipped, stored, duplicates = [], 0, 0
    batch = []  # (line number, event)

    def flush():
        nonlocal stored, duplicates
        new, dup, rejected = import_batch(agent, batch)
        stored, duplicates = stored + new, duplicates + dup
        skipped.extend(rejected)
        batch.clear()

    with open(file, "rb") as f, click.progressbar(length=os.path.getsize(file), label="Importing") as bar:
        for number, raw in enumerate(f, start=1):
            bar.update(len(raw))
            if not raw.strip():
                continue
            event, reason = parse_line(raw, limits)
            if reason:
                skipped.append((number, reason))
                continue
            batch.append((number, event))
            if len(batch) >= IMPORT_BATCH:
                flush()
        flush()
    click.echo(f"Imported {stored} new events into {agent.name!r}; {duplicates} were already stored; {len(skipped)} lines skipped.")
    for number, reason in sorted(skipped)[:SKIPS_SHOWN]:
        click.echo(f"  line {number}: {reason}")
    if len(skipped) > SKIPS_SHOWN:
        click.echo(f"  ... and {len(skipped) - SKIPS_SHOWN} more skipped lines.")


def parse_line(raw, limits):
    """One JSONL line -> (event, None) or (None, reason), with the API's rules."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "not valid JSON"
    events, errors = ingestion.validate_events([payload], limits)
    if errors:
        return None, "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    return events[0], None


def import_batch(agent, batch):
    """Store a batch; lines the database rejects (a dialog on another channel) are skipped."""
    rejected = []
    while batch:
        try:
            new, duplicates = ingestion.ingest_events(agent, [event for _, event in batch], current_app.config["API_MAX_CHANNELS"])
            return new, duplicates, rejected
        except ingestion.IngestError as exc:
            bad = {e["index"] for e in exc.errors}
            rejected += [(batch[e["index"]][0], f"{e['field']}: {e['message']}") for e in exc.errors]
            batch = [entry for i, entry in enumerate(batch) if i not in bad]
    return 0, 0, rejected


@click.command("queue-status")
@with_appcontext
def queue_status():
    """Show the export queue: waiting, building, failed, and how old the oldest is."""
    health = queue_health()
    for label, value in health.lines():
        click.echo(f"{label}: {value}")
