"""Is this installation working? `/healthz` for container health checks and load
balancers, and a 503 instead of a 500 on any page while the database is away."""
import logging
import time

from flask import Blueprint, jsonify, render_template, request
from peewee import InterfaceError, OperationalError
from werkzeug.exceptions import ServiceUnavailable

import tasks
from models import db

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
    """200 when database, queue and a worker answer; 503 with what is wrong otherwise."""
    checks = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except WorkerDown as exc:
            checks[name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            checks[name] = f"{type(exc).__name__}: {exc}"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(checks), 200 if healthy else 503


@bp.app_errorhandler(OperationalError)
@bp.app_errorhandler(InterfaceError)
def database_unavailable(exc):
    """A database that is down or busy is a 503 to retry, not a 500 (JSON for the API)."""
    log.error("database unavailable: %s", exc)
    message = "Slotlens cannot reach its database right now. Try again in a minute."
    if request.blueprint == "api":
        return jsonify([{"index": None, "field": None, "message": message}]), 503
    return render_template("error.html", error=ServiceUnavailable(message)), 503
