"""History files for `import-events`, shaped like what a bot's export holds.

`short_dialogs` is the shape a new user measured ingestion on: many short
dialogs (2–18 events, the bot and the user taking turns), slots whose popularity
falls off like Zipf's law (a few steps in almost every dialog, a long tail), four
channels, 90 days, each dialog's events together in the file, the dialogs in the
order they started, as a platform's export lists them. A fixed seed makes
the same file on every run, so figures from different runs compare.
"""
import json
from datetime import datetime

import numpy as np

SEED = 20261204
START = np.datetime64(datetime(2026, 8, 1), "ms")
DAYS = 90
CHANNELS = np.array(["web", "telegram", "whatsapp", "app"])
SLOTS = 150
BOT_LINES = [  # a script's lines: each slot says one of them, every time
    "Hello! I can help you book, change or cancel a delivery.",
    "What would you like to do?",
    "Which address should we deliver to?",
    "When would suit you best?",
    "Please confirm the time slot.",
    "Sorry, I did not get that. Could you say it another way?",
    "Shall I pass you to a person?",
    "Your delivery is booked. Anything else?",
]
USER_LINES = [  # made-up people, with the kinds of data masking looks for
    "Hi, I'd like to change my booking for 12.03.2026, please",
    "My number is +7 (912) 345-67-89",
    "You can write to alex.example@example.com",
    "Order 1234567, it was 12 990.50",
    "Yes",
    "Thanks, that's all!",
]


def slot_popularity(slots=SLOTS, exponent=1.1):
    """Zipf-like: the slot of rank r is shown in proportion to 1 / r^exponent."""
    weights = 1 / np.arange(1, slots + 1) ** exponent
    return weights / weights.sum()


def short_dialogs(dialogs, chunk=10_000, seed=SEED):
    """The events of `dialogs` dialogs as API payloads, one dialog after another,
    generated `chunk` dialogs at a time so that memory stays flat."""
    rng = np.random.default_rng(seed)
    popularity = slot_popularity()
    for first in range(0, dialogs, chunk):
        count = min(chunk, dialogs - first)
        lengths = rng.integers(2, 19, count)  # events per dialog, 2–18
        spread = (first + np.arange(count) + rng.uniform(0, 1, count)) / dialogs  # in order, 0 ≤ spread < 1
        starts = START + (spread * DAYS * 86_400_000).astype("timedelta64[ms]")
        channels = CHANNELS[rng.integers(0, len(CHANNELS), count)]
        dialog_of = np.repeat(np.arange(count), lengths)
        position = np.arange(len(dialog_of)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        offsets = np.cumsum(rng.integers(2_000, 60_000, len(dialog_of)))  # ms; made relative to each dialog below
        offsets -= np.repeat(offsets[np.cumsum(lengths) - lengths], lengths)
        timestamps = np.datetime_as_string(starts[dialog_of] + offsets.astype("timedelta64[ms]"), unit="ms")
        slots = rng.choice(SLOTS, size=len(dialog_of), p=popularity)
        lines = rng.integers(0, len(USER_LINES), len(dialog_of))
        for n in range(len(dialog_of)):
            d = dialog_of[n]
            bot = position[n] % 2 == 0  # the bot opens, the user answers
            yield {
                "dialog_id": f"h{first + d}",
                "channel": str(channels[d]),
                "sender": "bot" if bot else "user",
                "slot": f"s{slots[n]:03d}" if bot else None,
                "text": BOT_LINES[slots[n] % len(BOT_LINES)] if bot else USER_LINES[lines[n]],
                "timestamp": f"{timestamps[n]}+00:00",
            }


def write_jsonl(path, events):
    """The events as JSON Lines, as `import-events` reads them."""
    with open(path, "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
