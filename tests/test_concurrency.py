"""Concurrent writers against the web server as the container runs it (gunicorn,
several processes and threads): the dialog summaries and the report must equal a
recount of the raw events, whatever the interleaving.

A webhook-driven bot really talks this way: the channel gateway posts the user's
messages while the bot posts its own, for the same dialogs at the same moment.
"""
import collections
import random
import threading
import urllib.error
import urllib.parse
from datetime import date, datetime, timedelta, timezone

import pytest

from app import create_app
from devtools.processes import ANALYST_PASSWORD, Browserless, Stack, free_port
from reporting import periods
from reporting.kinds import stop_slots
from tests.conftest import SECRET
from tests.test_report_family import computed as funnel_and_paths_of, recount as brute_force_of

pytestmark = pytest.mark.e2e

SLOT_KEYS = ["greet", "ask", "pay", "bye"]
DIALOGS = 240
ROUNDS = 12  # per pair of senders
PAIRS = 3  # pairs of senders firing at once
BATCH_DIALOGS = 60


class Conversations:
    """What was sent, and so what every summary must say (the oracle)."""

    def __init__(self, start):
        self.start = start
        self.tick = 0
        self.lock = threading.Lock()
        self.events = collections.defaultdict(list)  # dialog -> [(instant, sender, slot)]

    def event(self, dialog, sender, slot=None):
        with self.lock:
            self.tick += 1
            instant = self.start + timedelta(milliseconds=self.tick)  # unique: no ties to break
            self.events[dialog].append((instant, sender, slot))
        item = {"dialog_id": dialog, "channel": "web", "sender": sender, "timestamp": instant.isoformat()}
        if slot:
            item["slot"] = slot
        return item

    def expected(self):
        """dialog -> (counted, stop slot key)."""
        result = {}
        for dialog, events in self.events.items():
            slotted = sorted((instant, slot) for instant, _, slot in events if slot)
            counted = any(sender == "user" for _, sender, _ in events)
            result[dialog] = (counted, slotted[-1][1] if slotted else None)
        return result


def fire_together(stack, key, batches, failures):
    """Post the batches at the same moment, one thread each."""
    barrier = threading.Barrier(len(batches))

    def post(batch):
        barrier.wait()
        try:
            stack.api("POST", "/api/v1/events", key, batch)
        except urllib.error.HTTPError as exc:
            failures.append(f"{exc.code}: {exc.read()[:300]!r}")
        except OSError as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=post, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def sender_pair(stack, key, talk, seed, failures):
    """One gateway and one bot, round after round, over the same dialogs."""
    rng = random.Random(seed)
    sent = []
    for round_number in range(ROUNDS):
        dialogs = rng.sample(range(DIALOGS), BATCH_DIALOGS)
        fresh = [f"new-{seed}-{round_number}-{i}" for i in range(5)]  # created by both batches at once
        names = [f"d{n}" for n in dialogs] + fresh
        user_batch = [talk.event(name, "user") for name in names]
        bot_batch = [talk.event(name, "bot", rng.choice(SLOT_KEYS)) for name in names]
        rng.shuffle(bot_batch)
        batches = [user_batch, bot_batch]
        if sent and rng.random() < 0.3:
            batches.append(rng.choice(sent))  # a re-sent batch changes nothing
        fire_together(stack, key, batches, failures)
        sent += [user_batch, bot_batch]


def test_concurrent_batches_leave_every_summary_exact(tmp_path, backend):
    stack = Stack(tmp_path, free_port(), **backend)
    stack.cli("init-db")
    key = stack.cli("create-agent", "Webhook Bot").strip().rsplit(" ", 1)[1]
    stack.start_gunicorn(workers=3, threads=4)
    try:
        talk = Conversations(datetime.now(timezone.utc) - timedelta(hours=2))
        stack.api("PUT", "/api/v1/slots", key, [{"key": k, "name": k.title(), "type": "message"} for k in SLOT_KEYS])
        stack.api("POST", "/api/v1/events", key, [talk.event(f"d{n}", "bot", "greet") for n in range(DIALOGS)])

        failures = []
        pairs = [
            threading.Thread(target=sender_pair, args=(stack, key, talk, seed, failures)) for seed in range(PAIRS)
        ]
        for pair in pairs:
            pair.start()
        for pair in pairs:
            pair.join()

        assert failures == [], "every batch is accepted: no 5xx, no deadlock"
        summaries, recount = stack.summaries(), stack.recount()
        wrong = {ext: (summaries[ext], recount[ext]) for ext in recount if summaries[ext] != recount[ext]}
        assert wrong == {}, f"{len(wrong)} of {len(recount)} summaries differ from the events"
        expected = talk.expected()
        assert {ext: (counted, stop) for ext, (_, counted, stop) in recount.items()} == expected

        app = create_app(
            {"TESTING": True, "SECRET_KEY": SECRET, "DATABASE_URL": stack.database_url,
             "QUEUE_URL": f"sqlite:///{tmp_path}/oracle-queue.db"},
            instance_path=str(tmp_path / "oracle"),
        )
        with app.app_context():
            today = date.today()
            (agent_id,), = stack.query("SELECT id FROM agent")
            filters = periods.Filters((agent_id,), today - timedelta(days=2), today + timedelta(days=1))
            report = {c.key: c.dialogs for c in stop_slots.stop_slot_counts(agent_id, filters, "UTC")}
            funnel_and_paths = funnel_and_paths_of(agent_id, filters, "UTC")
            brute_force = brute_force_of(agent_id, filters, "UTC")
        oracle = collections.Counter(stop for counted, stop in expected.values() if counted)
        assert report == dict(oracle)
        assert funnel_and_paths == brute_force, "the slot and step rows kept by ingestion are exact too"
        print(f"{len(expected)} dialogs, {sum(len(e) for e in talk.events.values())} events, report {report}")
    finally:
        stack.stop()


def test_two_admins_creating_the_same_account_at_once_get_one_account_and_a_form_error(tmp_path, backend):
    stack = Stack(tmp_path, free_port(), **backend)
    stack.cli("init-db")
    stack.cli("create-user", "admin@example.com", "--password", ANALYST_PASSWORD, "--admin")
    stack.start_gunicorn(workers=3, threads=4)
    try:
        admin = Browserless(stack.base_url)
        admin.login("admin@example.com")
        fields = {"email": "newbie@example.com", "password": "a long enough password"}
        answers = admin.post_at_once("/admin/", "/admin/accounts", fields, times=8)
        statuses = [status for status, _ in answers]
        pages = [page for status, page in answers if status == 400]
        assert sorted(statuses) == [200] + [400] * 7  # 200: the redirect to the admin page
        assert all("An account with this email already exists." in page for page in pages)
        assert stack.query("SELECT COUNT(*) FROM account WHERE email = 'newbie@example.com'") == [(1,)]
    finally:
        stack.stop()
