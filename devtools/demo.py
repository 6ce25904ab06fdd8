"""Demo data for a newcomer's first look: three agents with realistic scripts,
tens of thousands of dialogs over the last 60 days, and two logins.

Generated with a fixed seed and stored through the real ingestion path.
"""
import random
from datetime import timedelta

from access import api_keys, passwords
from database import db
from database.bulk import chunks
from ingest import rules, writer
from models import Account, Grant, utcnow
from outcomes import recompute
from outcomes import rules as outcome_rules

DEMO_ADMIN = ("demo@slotlens.local", "slotlens-demo")
DEMO_ANALYST = ("analyst@slotlens.local", "slotlens-analyst")
DAYS = 60
SEED = 20261126

# What the made-up users answer, in turn (no random draw, so the demo's numbers stay as they were).
DEMO_REPLIES = ["Hi! I'd like to book a table", "For two, please", "Tomorrow at 7 pm?", "Can I bring a dog?",
                "My name is Alex Example", "alex@example.com", "Yes, that's right", "Thanks!"]
# (key, name, type, bot text, chance that a dialog stops here)
SCRIPTS = {
    "Support Bot": (
        ["web", "telegram", "whatsapp"],
        9000,
        [
            ("greeting", "Greeting", "message", "Hi! I'm the support bot.\nHow can I help you today?", 0.12),
            ("ask_order", "Ask order number", "question", 'Please type your order number, e.g. "A-12345".', 0.18),
            ("nlu_intent", "Detect intent", "nlu", "", 0.08),
            ("faq_delivery", "FAQ: delivery", "message",
             "Delivery takes 2-4 days.\n\nIf it's late, reply \"late\", and we'll check.", 0.22),
            ("formula_like", "=Refund policy", "message", "+1 day for refunds, -5% restocking fee, @support", 0.1),
            ("csat", "Rate us", "question", "How did we do? 1, 2, 3, 4 or 5", 0.15),
            ("handover", "Handover to agent", "handover", "Connecting you to a human colleague…", 1.0),
        ],
    ),
    "Бот доставки": (
        ["telegram", "vk"],
        7000,
        [
            ("hello", "Приветствие", "message", "Здравствуйте! Я помогу отследить посылку 📦", 0.15),
            ("track", "Номер отслеживания", "question", "Введите трек-номер, например «RU123456789»", 0.25),
            ("status", "Статус посылки", "message", "Ваша посылка в пути.\nОжидаемая дата: завтра, до 18:00", 0.3),
            ("feedback", "Отзыв", "question", "Оцените нашу работу, пожалуйста", 1.0),
        ],
    ),
    "Booking Assistant": (
        ["web", "app"],
        6000,
        [
            ("welcome", "Welcome", "message", "Welcome to Harbour Hotel, \"where the sea starts\".", 0.1),
            ("dates", "Ask dates", "question", "Which dates, from and to?", 0.2),
            ("guests", "Ask guests", "question", "How many guests, adults, children?", 0.15),
            ("offer", "Room offer", "message", "We have:\n- Sea view, 120 €\n- Garden, 95 €\nWhich one?", 0.25),
            ("payment", "Payment link", "message", "Here is your secure payment link.", 0.2),
            ("confirm", "Confirmation", "message", "Booked! See you soon 🌊", 1.0),
        ],
    ),
}
# The story behind "Did the change help?": a week ago the Support Bot team reworded its
# order-number question, and since then half as many people give up there. Compare the
# last 7 days with the previous period on Analytics to see it (a significant fall).
REWORDED = ("ask_order", 7, 0.5)  # slot, days ago, factor on its stop chance since then

# Each agent's outcome rules (SPEC "Outcomes"), as a team would keep them in its repository.
OUTCOME_RULES = {
    "Support Bot": "- {outcome: Escalated, reaches_type: handover}\n- {outcome: Completed, ends_at: csat}\n"
                   "- {outcome: Failed, shows: ask_order, times: 2}\n",
    "Бот доставки": "- {outcome: Completed, ends_at: feedback}\n- {outcome: Failed, shows: track, times: 2}\n",
    "Booking Assistant": "- {outcome: Completed, ends_at: confirm}\n- {outcome: Failed, shows: dates, times: 2}\n",
}


def load():
    """Create the demo agents, dialogs and logins once; returns what to tell the user."""
    if Account.select().where(Account.email == DEMO_ADMIN[0]).exists():
        return f"Demo data already loaded. Log in as {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}."
    rng = random.Random(SEED)
    now = utcnow()
    with db.atomic():
        admin = _account(*DEMO_ADMIN, is_admin=True)
        analyst = _account(*DEMO_ANALYST, is_admin=False)
    for index, (name, (channels, dialogs, script)) in enumerate(SCRIPTS.items()):
        agent, _ = api_keys.create_agent(name)
        writer.upsert_slots(agent, [rules.SlotIn(k, n, t, text) for k, n, t, text, _ in script])
        version = recompute.save(agent, outcome_rules.from_yaml(OUTCOME_RULES[name], recompute.slot_types(agent)))
        events = [e for d in range(dialogs) for e in _dialog_events(rng, f"{agent.slug}-{d}", channels, script, now)]
        for part in chunks(events, 10000):
            writer.ingest_events(agent, part)
        recompute.recompute(agent.id, version)  # ingestion gave every dialog its outcome; this records it as done
        if index < 2:
            Grant.create(account=analyst, agent=agent)
    return (
        f"Demo data loaded. Log in as {admin.email} / {DEMO_ADMIN[1]} (admin) "
        f"or {analyst.email} / {DEMO_ANALYST[1]} (sees two agents)."
    )


def _account(email, password, is_admin):
    account = Account(email=email, is_admin=is_admin)
    passwords.assign(account, password)
    account.save()
    return account


def _dialog_events(rng, dialog_id, channels, script, now):
    """One dialog walking the script until it drops off (or a few odd cases)."""
    channel = rng.choice(channels)
    at = now - timedelta(days=rng.uniform(0, DAYS))
    kind = rng.random()
    if kind < 0.05:  # the bot greeted, the user never answered: not counted
        return [rules.EventIn(dialog_id, channel, "bot", script[0][0], script[0][3], at)]
    if kind < 0.08:  # the user wrote, the bot never reached a slot
        return [
            rules.EventIn(dialog_id, channel, "user", None, "hello?", at),
            rules.EventIn(dialog_id, channel, "system", None, "session closed", at + timedelta(seconds=30)),
        ]
    events = []

    def exchange(key, text):
        nonlocal at
        events.append(rules.EventIn(dialog_id, channel, "bot", key, text, at))
        at += timedelta(seconds=rng.randint(2, 90))
        events.append(rules.EventIn(dialog_id, channel, "user", None, DEMO_REPLIES[len(events) // 2 % len(DEMO_REPLIES)], at))
        at += timedelta(seconds=rng.randint(1, 5))

    for step, (key, _, kind, text, stop_chance) in enumerate(script):
        exchange(key, text)
        if kind == "question" and rng.random() < 0.2:  # the answer was not understood: asked again
            exchange(key, text)
        if step and rng.random() < 0.06:  # the user went back a step, then on again
            previous = script[step - 1]
            exchange(previous[0], previous[3])
            exchange(key, text)
        reworded = key == REWORDED[0] and at > now - timedelta(days=REWORDED[1])
        if rng.random() < stop_chance * (REWORDED[2] if reworded else 1):
            break
    return events
