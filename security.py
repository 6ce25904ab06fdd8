"""Protections that apply to every response and log line, whatever the page.

CSRF (Flask-WTF), password hashing (Werkzeug's scrypt) and signed tokens
(itsdangerous) come from libraries; this module wires what is left: headers,
cookie flags, and keeping download tokens out of logs.
"""
import logging
import re
from collections.abc import Mapping

from flask import g

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the emails shown in the Outbox carry inline styles
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _character(plain, escaped):
    """One character of a token as a URL may carry it: itself (`plain`, a regex class),
    or percent-encoded (`escaped`: its hex), once or more (`%65`, `%2565`)."""
    return rf"(?:{plain}|%(?:25)*(?:{escaped}))"


_BASE64URL = _character("[A-Za-z0-9_-]", "3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa]|5[Ff]|2[Dd]")
# A download token (export_queue.links) is itsdangerous' base64url payload of a JSON
# object (so it begins "eyJ", the encoding of '{"'), a dot and an HMAC-SHA256 of 43
# characters. Found by this shape wherever it stands, whichever path, query or Referer
# carries it and however its characters are encoded. The payload (two ids) is short:
# bounding it keeps the search linear in a long, hostile line.
DOWNLOAD_TOKEN = re.compile(
    _character("e", "65") + _character("y", "79") + _character("J", "4[Aa]")
    + _BASE64URL + "{0,100}" + _character(r"\.", "2[Ee]") + _BASE64URL + "{43,}"
)


def redact(text):
    """Replace download tokens in a URL or log line with a placeholder."""
    return DOWNLOAD_TOKEN.sub("<token>", text)


class RedactTokens(logging.Filter):
    """Request logs name the path; a download token in it must not reach the log."""

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
    app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    # The access logs, and Flask's own "Exception on <path>" line.
    for logger in (logging.getLogger("werkzeug"), logging.getLogger("gunicorn.access"), app.logger):
        if REDACT_TOKENS not in logger.filters:
            logger.addFilter(REDACT_TOKENS)

    https = app.config["BASE_URL"].startswith("https://")

    @app.after_request
    def add_security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if https:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "text/csv" or g.get("account") is not None:
            response.headers["Cache-Control"] = "private, no-store"  # nothing of an account's stays in a shared cache
        return response
