"""The periodic clean-up: expired links, report files nobody may download any
more, and items whose queue message was lost (Huey never acknowledges a task)."""
import os
import shutil

from flask import current_app
from peewee import fn

from export_queue.states import IN_FLIGHT, QUEUED, SENT, expire, lease_lapsed
from database.bulk import chunks
from models import ExportItem, ExportRequest, utcnow
from reporting.kinds import transcripts


def expire_links(now=None):
    """Mark sent items whose link has expired, and delete their files. Returns how many."""
    now = now or utcnow()
    due = ExportItem.select(ExportItem.id).where((ExportItem.state == SENT) & (ExportItem.expires_at <= now))
    expired = sum(expire(item.id) for item in list(due))
    remove_stale_files()
    return expired


def remove_stale_files():
    """Delete the folder of every item that can no longer be sent or downloaded
    (expired, failed, or deleted with its account). Returns how many."""
    root = current_app.config["REPORTS_DIR"]
    if not os.path.isdir(root):
        return 0
    on_disk = [int(name) for name in os.listdir(root) if name.isdigit()]
    alive = set()
    for part in chunks(on_disk):
        live = ExportItem.select(ExportItem.id).where(ExportItem.id.in_(part) & ExportItem.state.in_((*IN_FLIGHT, SENT)))
        alive.update(item.id for item in live)
    stale = [item_id for item_id in on_disk if item_id not in alive]
    for item_id in stale:
        shutil.rmtree(os.path.join(root, str(item_id)), ignore_errors=True)
    return len(stale)


def withdraw_transcripts(agent_id):
    """The agent's transcripts exports stop being downloadable and their files go
    (a dialog of theirs was erased): sent ones expire, ones still on their way are
    built again from what is stored now, and failed ones lose their files at once.
    Returns how many were withdrawn."""
    items = list(ExportItem.select(ExportItem.id, ExportItem.state).join(ExportRequest)
                 .where((ExportItem.agent == agent_id) & (ExportRequest.kind == transcripts.KEY)))
    root = current_app.config["REPORTS_DIR"]
    for item in items:
        if item.state == SENT:
            expire(item.id)
        shutil.rmtree(os.path.join(root, str(item.id)), ignore_errors=True)
    return len(items)


def orphaned_items(grace, now=None):
    """Items whose queue message may be lost: due for longer than `grace` but still
    queued, or building under a lease that ran out (the worker died). Enqueueing
    them again is safe: a second message finds the item claimed or done."""
    now = now or utcnow()
    due_since = fn.COALESCE(ExportItem.not_before, ExportRequest.created_at)
    stale_queued = (ExportItem.state == QUEUED) & (due_since <= now - grace)
    return list(
        ExportItem.select(ExportItem.id, ExportItem.state).join(ExportRequest).where(stale_queued | lease_lapsed(now))
    )


def to_requeue(orphans, waiting_ids):
    """Which orphans to enqueue again: a building item's message is gone for sure; a
    queued item's only when no message for it waits on the queue or in the schedule
    (`waiting_ids`), so a long but healthy backlog is never doubled."""
    return [item for item in orphans if item.state != QUEUED or item.id not in waiting_ids]
