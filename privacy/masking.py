"""Masking personal data in event texts before they are written (SPEC "Personal data").

E-mail addresses become `[email]`; runs of 13–19 digits that pass the Luhn check
`[card]`; other phone-like runs of 9–15 digits `[phone]`; and each of the agent's
own `Also mask` expressions `[masked]`. Dates and times are recognised first and
left alone, so that `12.03.2026 14:30` is not taken for a phone number.

The team's expressions run on RE2 (google-re2), which matches in time linear in
the text whatever the expression: a pattern with nested quantifiers cannot stall
ingestion on a long text, as it could with Python's backtracking `re`. RE2 has no
lookarounds or backreferences; such a pattern is refused when it is saved.
"""
import dataclasses
import functools
import re

import re2
from flask_babel import gettext as _

from ingest.rules import EventIn

GROUP = r"(?:\(\d{1,15}\)|\d{1,15})"  # a group of digits, or one in parentheses: (912)
DATE = r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}(?!\d)(?![./-]\d)|\d{4}-\d{1,2}-\d{1,2}(?!\d)"  # 12.03.2026, 2026-03-12; not 06.12.34.56.78
# Between groups: a dot or dash, or nothing beside a parenthesis; or a space, unless a date
# follows (a phone number does not run on into "on 12.03.2026").
SEPARATOR = rf"(?:[.\-]|(?<=\))|(?=\()| (?!{DATE}))"
SCANNER = re.compile(
    rf"(?P<date>(?:{DATE})(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?)"
    r"|(?P<email>(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    rf"|(?P<digits>(?<![\w+])\+?{GROUP}(?:{SEPARATOR}{GROUP})*(?!\d))"
)
MIGHT_IDENTIFY = re.compile(r"[\d@]")  # every built-in pattern needs a digit or an @: most texts skip the scan
EMPTY_MATCH_PROBE = "a b\n1-"  # an expression matching nothing at some place here (\b, x*) would mask between letters
MAX_ALSO_MASK = 20  # expressions an agent may have
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False  # a refused expression is said on the form, not in the log


def luhn_valid(digits):
    """The check digit of card numbers (ISO/IEC 7812)."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


NOT_A_DIGIT, GROUPS, CARD_NEVER_HAS = re.compile(r"\D"), re.compile(r"\d+"), re.compile(r"[+()]")


def is_card(text):
    """Whether a run of digit groups is, or starts with, a card number: 13–19 digits
    from its first group to a group's end that pass the Luhn check (a card written
    with its expiry or security code after it is one too)."""
    if CARD_NEVER_HAS.search(text):
        return False
    groups = GROUPS.findall(text)
    digits = ""
    for group in groups:
        digits += group
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def _replacement(match):
    if match.lastgroup == "email":
        return "[email]"
    if match.lastgroup == "digits":
        text = match.group()
        length = len(NOT_A_DIGIT.sub("", text))
        if length >= 13 and is_card(text):
            return "[card]"
        if 9 <= length <= 15 or length > 19:  # longer than any card: two numbers run together, masked whole
            return "[phone]"
    return match.group()


def compile_also_mask(lines):
    """The team's expressions, one a line (blank lines skipped), compiled for RE2;
    ValueError naming the line and what is wrong with it."""
    patterns = []
    expressions = [line.strip() for line in lines.splitlines() if line.strip()]
    if len(expressions) > MAX_ALSO_MASK:
        raise ValueError(_("At most %(num)s expressions, one a line.", num=MAX_ALSO_MASK))
    for number, expression in enumerate(expressions, start=1):
        try:
            patterns.append(re2.compile(expression, RE2_OPTIONS))
        except re2.error as error:
            reason = error.args[0].decode(errors="replace") if isinstance(error.args[0], bytes) else str(error.args[0])
            raise ValueError(_("Expression %(number)s “%(expression)s” is not one Slotlens can run; the regular expression "
                               "engine (RE2) says “%(reason)s”. Lookarounds and backreferences are not supported.",
                               number=number, expression=expression, reason=reason)) from None
        if any(not found.group() for found in patterns[-1].finditer(EMPTY_MATCH_PROBE)):
            raise ValueError(_("Expression %(number)s “%(expression)s” can match an empty text; it must match something.",
                               number=number, expression=expression))
    return patterns


@functools.lru_cache(maxsize=256)
def compiled_also_mask(lines):
    """`compile_also_mask` once per distinct setting: ingestion asks for it every batch."""
    return tuple(compile_also_mask(lines))


@dataclasses.dataclass(frozen=True)
class Masker:
    """An agent's masking: on or off, and its own expressions."""

    enabled: bool
    also: tuple = ()

    @classmethod
    def of(cls, agent):
        return cls(agent.mask_personal_data, compiled_also_mask(agent.also_mask or ""))

    def mask(self, text):
        if not self.enabled or not text:
            return text
        for pattern in self.also:
            text = pattern.sub("[masked]", text)
        return SCANNER.sub(_replacement, text) if MIGHT_IDENTIFY.search(text) else text

    def events(self, events):
        """The events with their texts masked (the same list when masking is off).

        A bot says the same lines over and over, so each distinct text of the batch
        is masked once: on a history import that halved masking's time."""
        if not self.enabled:
            return events
        masked = {}
        return [self._masked_event(e, masked) for e in events]

    def slots(self, slots):
        """An importer's slots (SlotIn) with their texts, taken from bot events, masked."""
        if not self.enabled:
            return slots
        return [dataclasses.replace(slot, text=self.mask(slot.text)) for slot in slots]

    def _masked_event(self, event, masked):
        """The event with its text masked; `masked` remembers the texts already done (text -> masked)."""
        text = masked.get(event.text)
        if text is None:
            text = masked[event.text] = self.mask(event.text)
        if text == event.text:
            return event
        return EventIn(event.dialog_id, event.channel, event.sender, event.slot, text, event.timestamp)
