"""Ingestion API for the bots: slot catalogues and dialog events, JSON over HTTPS;
and erasing a dialog on its person's request.

Every error answer is a JSON list of {index, field, message}; a batch is all
or nothing.
"""
import json

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from access import api_keys
from ingest import decoding, rules, writer
from ingest.collector import cycles_collected_after
from privacy import erasure

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    def __init__(self, status, errors):
        super().__init__(status)
        self.status = status
        self.errors = errors


@bp.errorhandler(ApiError)
def api_error(exc):
    return jsonify(exc.errors), exc.status


@bp.errorhandler(HTTPException)
def http_error(exc):
    """413 (body too large), 405 and the like, in the API's JSON shape."""
    return jsonify([rules.error(None, None, exc.description)]), exc.code


def authenticated_agent():
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    agent = api_keys.agent_for(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
    if agent is None:
        raise ApiError(401, [rules.error(None, None, "missing or wrong API key (Authorization: Bearer <key>)")])
    if agent.archived_at is not None:
        raise ApiError(403, [rules.error(None, None, "this agent is archived; an admin can restore it on its page in Slotlens")])
    return agent


def _reject_duplicate_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {duplicate!r} in an object")
    return obj


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def read_body(limit):
    """The whole body, or 413 past `limit` bytes.

    Werkzeug enforces the limit for a body with a Content-Length; a chunked body
    it would silently cut at the limit, so that one is read here.
    """
    if request.content_length is not None:
        return request.get_data(cache=False)
    stream, parts, size = request.environ["wsgi.input"], [], 0
    while size <= limit:
        part = stream.read(min(64 * 1024, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(parts)


def parse_json(raw):
    """A request body as strict JSON: UTF-8, no NaN/Infinity, no duplicate keys, nothing after it."""
    try:
        return json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError as exc:
        message = f"the body is not valid UTF-8 (byte {exc.start + 1})"
    except RecursionError:
        message = "the JSON is nested too deeply"
    except ValueError as exc:
        message = f"the body is not valid JSON: {exc}"
    raise ApiError(400, [rules.error(None, None, message)])


def validated(validate, raw, limits):
    """Parse and validate a body, or answer with what is wrong."""
    items, errors = validate(parse_json(raw), limits)
    if errors:
        raise ApiError(400, errors)
    return items


def request_body():
    return read_body(current_app.config["MAX_CONTENT_LENGTH"])


@bp.route("/slots", methods=("PUT",))
def put_slots():
    agent = authenticated_agent()
    slots = validated(rules.validate_slots, request_body(), rules.Limits.from_config(current_app.config))
    created, updated = writer.upsert_slots(agent, slots)
    return jsonify(created=created, updated=updated)


@bp.route("/events", methods=("POST",))
def post_events():
    """Most batches take the fast path (`ingest.decoding`); one it does not accept is
    parsed again carefully, which says what is wrong."""
    agent = authenticated_agent()
    raw, limits = request_body(), rules.Limits.from_config(current_app.config)
    with cycles_collected_after():
        events = decoding.decode_batch(raw, limits)
        if events is None:
            events = validated(rules.validate_events, raw, limits)
        try:
            new, duplicates = writer.ingest_events(agent, events, current_app.config["API_MAX_CHANNELS"])
        except rules.IngestError as exc:
            raise ApiError(400, exc.errors) from None
    return jsonify(received=len(events), stored=new, duplicates=duplicates)


@bp.route("/dialogs/<path:dialog_id>", methods=("DELETE",))
def erase_dialog(dialog_id):
    """Erase one of the agent's dialogs (its texts, its ID); its counts stay. The ID is
    kept out of the request logs (webguard.redaction)."""
    agent = authenticated_agent()
    if erasure.erase_dialog(agent, dialog_id) is None:
        raise ApiError(404, [rules.error(None, "dialog_id", "this agent has no dialog with this ID")])
    return jsonify(erased=1)
