"""Signed tokens (download links, links that set a password) and erased dialog IDs
kept out of logs: one in a path, query or Referer is replaced before the line is
written, by the access logs and by Flask's own error line."""
import logging
import re
from collections.abc import Mapping


def _character(plain, escaped):
    """One character of a token as a URL may carry it: itself (`plain`, a regex class),
    or percent-encoded (`escaped`: its hex), once or more (`%65`, `%2565`)."""
    return rf"(?:{plain}|%(?:25)*(?:{escaped}))"


_BASE64URL = _character("[A-Za-z0-9_-]", "3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa]|5[Ff]|2[Dd]")
# A signed token (a download link's, export_queue.links; a link that sets a password,
# access.tokens) is itsdangerous' base64url payload of a JSON object (so it begins
# "eyJ", the encoding of '{"'), a dot, for a timed token a timestamp and a dot, and an
# HMAC-SHA256 of 43 characters. Found by this shape wherever it stands, whichever path,
# query or Referer carries it and however its characters are encoded. The payload (an
# id or two and a digest) and the timestamp are short: bounding them keeps the search
# linear in a long, hostile line.
_DOT = _character(r"\.", "2[Ee]")
SIGNED_TOKEN = re.compile(
    _character("e", "65") + _character("y", "79") + _character("J", "4[Aa]")
    + _BASE64URL + "{0,100}" + f"(?:{_DOT}{_BASE64URL}{{1,12}})?" + _DOT + _BASE64URL + "{43,}"
)


# A dialog ID in the erasure route is an end user's identifier (a phone number, on
# some channels): the request line keeps only that a dialog was erased.
# Anything under a second segment of the API is taken for one, however the path is written
# (`/api/v1//dialogs/…`, `/api/v1/dialog%73/…`).
ERASED_DIALOG = re.compile(r"(/api/v1/+[^/\s?#\"]+/+)[^\s?#\"]+")


def redact(text):
    """Replace signed tokens and erased dialog IDs in a URL or log line with placeholders."""
    return ERASED_DIALOG.sub(r"\1<dialog_id>", SIGNED_TOKEN.sub("<token>", text))


class RedactTokens(logging.Filter):
    """Request logs name the path; a signed token in it must not reach the log."""

    def filter(self, record):
        if isinstance(record.args, tuple):  # werkzeug: (address, time, request line, status, size)
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):  # gunicorn: atoms such as "r", "U", "f" (Referer)
            for key, value in record.args.items():
                if isinstance(value, str):
                    record.args[key] = redact(value)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


REDACT_TOKENS = RedactTokens()


def init_app(app):
    # The access logs, and Flask's own "Exception on <path>" line.
    for logger in (logging.getLogger("werkzeug"), logging.getLogger("gunicorn.access"), app.logger):
        if REDACT_TOKENS not in logger.filters:
            logger.addFilter(REDACT_TOKENS)
