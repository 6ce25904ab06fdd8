"""Is this installation working? `/healthz` for container health checks and load
balancers, and a 503 instead of a 500 on any page while the database is away."""
import logging
import time

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from peewee import DatabaseError, InterfaceError
from werkzeug.exceptions import InternalServerError, ServiceUnavailable

import tasks
from blueprints import error_pages
from database import db, is_transient

bp = Blueprint("health", __name__)
log = logging.getLogger("slotlens")


class WorkerDown(Exception):
    """No consumer has signalled life recently: exports would wait forever."""


def check_worker():
    if tasks.huey.immediate:
        return  # tasks run inside the web process
    beat = tasks.last_heartbeat()
    if beat is None:
        raise WorkerDown("worker not running (no heartbeat yet)")
    age = time.time() - beat
    if age > tasks.HEARTBEAT_STALE:
        raise WorkerDown(f"worker not running (last heartbeat {age:.0f} s ago)")


CHECKS = {
    "database": lambda: db.execute_sql("SELECT 1").fetchone(),
    "queue": lambda: len(tasks.huey),
    "worker": check_worker,
}


@bp.route("/healthz")
def healthz():
    """200 when database, queue and a worker answer; 503 with what is wrong otherwise.

    Anyone may ask, so a failing check says only `error`: its exception (host
    names, the database user) goes to the log.
    """
    checks = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except WorkerDown as exc:
            checks[name] = str(exc)
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            log.exception("health check failed: %s", name)
            checks[name] = "error"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(checks), 200 if healthy else 503


@bp.app_errorhandler(DatabaseError)
@bp.app_errorhandler(InterfaceError)
def database_error(exc):
    """A database that is down or busy is a 503 to retry; any other database error
    (a bug, a database not upgraded) is a 500 with its traceback in the log, not a
    promise that a minute will fix it. JSON for the API."""
    if is_transient(exc):
        log.warning("database unavailable: %s", exc)
        error = ServiceUnavailable(_("Slotlens cannot reach its database right now. Try again in a minute."))
    else:
        log.error("database error", exc_info=exc)
        error = InternalServerError()
    if request.blueprint == "api":
        return jsonify([{"index": None, "field": None, "message": error.description}]), error.code
    return error_pages.page(error)
