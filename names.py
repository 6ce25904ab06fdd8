"""What a name may hold: one line of text, no control characters.

Agents, slots, channels, dialog ids and account emails end up in CSV files,
email headers, stored lists and log lines, where a line break or another
control character would split, forge or break them. Texts (a bot's message)
may be multi-line; names may not.
"""
import re

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CONTROL_MESSAGE = "must not contain control characters (line breaks, tabs and the like)"


def has_control(text):
    return CONTROL.search(text) is not None
