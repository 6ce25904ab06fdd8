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
import re

import re2

GROUP = r"(?:\(\d{1,6}\)|\d{1,6})"  # a group of digits, or one in parentheses: (912)
SEPARATOR = r"(?:[ \-.]|(?<=\))|(?=\())"  # one space, dash or dot; or none beside a parenthesis
NOT_A_DATE = r"(?!\d{1,2}[./]\d{1,2}[./]\d{2,4}(?!\d)|\d{4}-\d{2}-\d{2})"  # a phone number does not run on into a date
SCANNER = re.compile(
    r"(?P<date>\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}(?!\d))"
    r"|(?P<email>(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    rf"|(?P<digits>(?<![\w+])\+?(?:{GROUP}(?:{SEPARATOR}{NOT_A_DATE}{GROUP})+|\d{{9,19}})(?!\d))"
)
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


def _replacement(match):
    if match.lastgroup == "email":
        return "[email]"
    if match.lastgroup == "digits":
        text = match.group()
        digits = re.sub(r"\D", "", text)
        if 13 <= len(digits) <= 19 and not re.search(r"[+()]", text) and luhn_valid(digits):
            return "[card]"
        if 9 <= len(digits) <= 15:
            return "[phone]"
    return match.group()


def compile_also_mask(lines):
    """The team's expressions, one a line (blank lines skipped), compiled for RE2;
    ValueError naming the line and what is wrong with it."""
    patterns = []
    expressions = [line.strip() for line in lines.splitlines() if line.strip()]
    if len(expressions) > MAX_ALSO_MASK:
        raise ValueError(f"At most {MAX_ALSO_MASK} expressions, one a line.")
    for number, expression in enumerate(expressions, start=1):
        try:
            patterns.append(re2.compile(expression, RE2_OPTIONS))
        except re2.error as error:
            reason = error.args[0].decode(errors="replace") if isinstance(error.args[0], bytes) else str(error.args[0])
            raise ValueError(f"Expression {number} ({expression}) is not one Slotlens can run: {reason}. "
                             "Lookarounds and backreferences are not supported.") from None
        if patterns[-1].search(""):
            raise ValueError(f"Expression {number} ({expression}) matches an empty text; it must match something.")
    return patterns


@dataclasses.dataclass(frozen=True)
class Masker:
    """An agent's masking: on or off, and its own expressions."""

    enabled: bool
    also: tuple = ()

    @classmethod
    def of(cls, agent):
        return cls(agent.mask_personal_data, tuple(compile_also_mask(agent.also_mask or "")))

    def mask(self, text):
        if not self.enabled or not text:
            return text
        for pattern in self.also:
            text = pattern.sub("[masked]", text)
        return SCANNER.sub(_replacement, text)

    def events(self, events):
        """The events with their texts masked (the same list when masking is off)."""
        if not self.enabled:
            return events
        return [e if not e.text else dataclasses.replace(e, text=self.mask(e.text)) for e in events]
