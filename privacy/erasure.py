"""Erasure on request: one dialog's texts removed and its dialog ID replaced by a
random `erased-…` one, wherever Slotlens keeps them (events, the dialog, which the
audit refers to, transcripts exported of its agent); its counts stay. A later event with the old ID
starts a new dialog."""
import secrets

from database import db
from export_queue.upkeep import withdraw_transcripts
from models import Dialog, Event
from privacy.retention import ERASED, empty_the_log


def erase_dialog(agent, external_id):
    """Erase the agent's dialog `external_id`; returns its new ID, or None if the agent
    has no such dialog (an erased one has not: its ID is gone)."""
    with db.atomic():
        dialog = Dialog.get_or_none((Dialog.agent == agent.id) & (Dialog.external_id == external_id))
        if dialog is None:
            return None
        erased_id = f"erased-{secrets.token_hex(12)}"
        Event.update(text=None).where(Event.dialog == dialog.id).execute()
        Dialog.update(external_id=erased_id, texts_removed=ERASED).where(Dialog.id == dialog.id).execute()
    withdraw_transcripts(agent.id)
    empty_the_log()
    return erased_id
