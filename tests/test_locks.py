"""Two writers at once on PostgreSQL (READ COMMITTED), where checking and acting are
two statements: a cap holds, locks are taken in one order, and the schema is
upgraded once.

Each test holds a first writer's transaction open at the moment that matters,
starts a second writer, waits until that one has finished or waits on a lock, and
only then lets the first commit: the interleaving is the same on every run.
"""
import os
import threading
import time

import pytest

from database import db, migrations
from database.migrations import SchemaVersion
from ingest import rules, writer
from models import MODELS, Channel, Slot
from tests.conftest import event, make_agent, postgres_available

pytestmark = pytest.mark.postgres

T0 = "2026-01-01T00:00:00+00:00"


@pytest.fixture
def database_url(postgres_url):
    if os.environ.get("REQUIRE_POSTGRES") != "1" and not postgres_available():
        pytest.skip("no PostgreSQL here")
    return postgres_url


class Writer(threading.Thread):
    """`work()` in a transaction on a connection of its own (another web worker);
    with `release`, the transaction stays open after `work()` until it is set, and
    then does `then()` before it commits."""

    def __init__(self, app, work, release=None, then=None):
        super().__init__(daemon=True)
        self.app, self.work, self.release, self.then = app, work, release, then
        self.result = self.error = None
        self.worked = threading.Event()

    def run(self):
        with self.app.app_context():
            try:
                with db.connection_context(), db.atomic():
                    self.result = self.work()
                    self.worked.set()
                    if self.release:
                        self.release.wait(30)
                    if self.then:
                        self.then()
            except Exception as exc:  # noqa: BLE001 (the test reads it)
                self.error = exc
            finally:
                self.worked.set()


def one_after_another(app, first_work, second_work, first_then=None):
    """Run `first_work`, and `second_work` while the first's transaction is still
    open; once the second has finished or waits on a lock, the first does
    `first_then` and commits."""
    release = threading.Event()
    first = Writer(app, first_work, release, first_then)
    first.start()
    assert first.worked.wait(30) and first.error is None, first.error
    second = Writer(app, second_work)
    second.start()
    deadline = time.monotonic() + 30
    while second.is_alive() and not waiting_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()
    first.join(30)
    second.join(30)
    return first, second


def waiting_on_a_lock():
    return db.execute_sql("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted)").fetchone()[0]


def events_on(channel, dialog, slots=()):
    payload = [event(dialog, "user", T0, channel=channel)] + [event(dialog, "bot", T0, slot=s, channel=channel) for s in slots]
    return rules.validate_events(payload, rules.Limits())[0]


def test_two_batches_never_both_take_the_last_channel(app):
    with app.app_context():
        agent, _ = make_agent("Support Bot")

    first, second = one_after_another(
        app,
        lambda: writer.ingest_events(agent, events_on("web", "d1"), max_channels=1),
        lambda: writer.ingest_events(agent, events_on("telegram", "d2"), max_channels=1),
    )
    assert first.result == (1, 0)
    assert isinstance(second.error, rules.IngestError), f"the second batch passed the cap: {second.result}"
    assert second.error.errors == [rules.error(
        0, "channel", "this agent may have at most 1 channels (API_MAX_CHANNELS); 'telegram' would be one more"
    )]
    with app.app_context():
        assert [c.name for c in Channel.select()] == ["web"]


def test_a_slot_list_and_a_batch_creating_its_slots_never_deadlock(app):
    """A batch creates its slots in key order; so does a slot list, whatever its
    own order, or the two can each hold a slot the other waits for."""
    with app.app_context():
        agent, _ = make_agent("Support Bot")
    catalogue = [rules.SlotIn("b", "Bye", "message", "Bye!"), rules.SlotIn("a", "Ask", "question", "Why?")]

    first, second = one_after_another(
        app,
        lambda: writer.ingest_events(agent, events_on("web", "d1", slots=["a"])),
        lambda: writer.upsert_slots(agent, catalogue),
        first_then=lambda: writer.ingest_events(agent, events_on("web", "d2", slots=["b"])),
    )
    assert (first.error, second.error) == (None, None)
    with app.app_context():
        assert sorted(Slot.select(Slot.key, Slot.name).tuples()) == [("a", "Ask"), ("b", "Bye")]


def test_two_replicas_starting_together_upgrade_the_schema_once(app):
    with app.app_context():
        db.drop_tables([*MODELS, SchemaVersion], cascade=True)

    first, second = one_after_another(app, migrations.upgrade, migrations.upgrade)
    assert first.result == (0, migrations.LATEST) and first.error is None
    assert second.error is None and second.result == (migrations.LATEST, migrations.LATEST)
