"""One log line per request and per export task, as `key=value` pairs (logfmt), so
that a request or an export can be followed with grep across web and workers."""
import logging
import re
import sys
import time
import uuid

from flask import g, request

from ingest.rules import CONTROL, has_control
from webguard.redaction import redact

log = logging.getLogger("slotlens")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def logfmt(**fields):
    """`a=1 b="two words"`: values quoted only when they need it, and control
    characters escaped, so that no value can start a forged log line."""
    parts = []
    for key, value in fields.items():
        text = "" if value is None else str(value)
        if not text or re.search(r'[\s="\\]', text) or has_control(text):
            escaped = text.replace("\\", "\\\\").replace('"', '\\"')
            text = '"' + CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), escaped) + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def log_event(event, level=logging.INFO, **fields):
    log.log(level, logfmt(event=event, **fields))


def init_app(app):
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    @app.before_request
    def start_timer():
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        if "started" in g:
            account = g.get("account")
            log_event(
                "request",
                request_id=g.request_id,
                method=request.method,
                path=redact(request.path),
                status=response.status_code,
                duration_ms=round((time.perf_counter() - g.started) * 1000, 1),
                account=account.id if account else None,
            )
            response.headers["X-Request-Id"] = g.request_id
        return response
