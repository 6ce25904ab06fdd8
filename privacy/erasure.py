"""Erasure on request: one dialog's texts removed and its dialog ID replaced by a
random `erased-…` one, wherever Slotlens keeps them (events, the dialog, which the
audit refers to, transcripts exported of its agent); its counts stay. A later event with the old ID
starts a new dialog."""
import json
import secrets

from database import db
from export_queue.upkeep import withdraw_transcripts
from models import Dialog, Event, ImportJob
from privacy.retention import ERASED, REMOVED, empty_the_log


def erase_dialog(agent, external_id):
    """Erase the agent's dialog `external_id`; returns its new ID, or None if the agent
    has no such dialog (an erased one has not: its ID is gone)."""
    with db.atomic():
        dialog = Dialog.get_or_none((Dialog.agent == agent.id) & (Dialog.external_id == external_id))
        if dialog is None:
            return None
        erased_id = f"erased-{secrets.token_hex(12)}"
        Event.update(text=REMOVED).where((Event.dialog == dialog.id) & Event.text.is_null(False)).execute()
        Dialog.update(external_id=erased_id, texts_removed=ERASED).where(Dialog.id == dialog.id).execute()
        _rename_in_import_reasons(agent, external_id, erased_id)
    withdraw_transcripts(agent.id)
    empty_the_log()
    return erased_id


def _rename_in_import_reasons(agent, external_id, erased_id):
    """Admin → Import shows why events were skipped, naming their dialog: there too."""
    quoted, in_json = repr(external_id), json.dumps(repr(external_id))[1:-1]  # as a reason names it; in the stored JSON
    jobs = ImportJob.select().where((ImportJob.agent == agent.id)
                                    & (ImportJob.reasons.contains(in_json) | ImportJob.error.contains(quoted)))
    for job in jobs:
        job.reasons = job.reasons.replace(in_json, json.dumps(repr(erased_id))[1:-1])
        job.error = job.error.replace(quoted, repr(erased_id)) if job.error else job.error
        job.save(only=[ImportJob.reasons, ImportJob.error])
