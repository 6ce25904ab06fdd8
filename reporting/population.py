"""The population every report kind counts: an agent's counted dialogs that started
in a period, on the chosen channels, with the chosen outcomes; and the slots their
rows name."""
from models import Dialog, Slot
from outcomes import evaluation


def in_range(model, agent_id, channels, start, end, outcomes=()):
    """Rows of `model` (Dialog, or a per-dialog summary with the same filter fields)
    of the agent's counted dialogs that started in [start, end), on the `channels`
    and with the `outcomes` (outcome keys; all when empty): the one population every
    report kind counts. Outcomes are the dialog's own, which the per-dialog rows
    find through their dialog."""
    condition = (
        (model.agent == agent_id)
        & (model.is_counted == True)  # noqa: E712 (peewee expression)
        & (model.started_at >= start)
        & (model.started_at < end)
    )
    if channels:
        condition &= model.channel.in_(list(channels))
    if evaluation.restricts(outcomes):
        having = evaluation.having(outcomes, evaluation.idle_before())
        if model is Dialog:
            condition &= having
        else:
            condition &= model.dialog.in_(Dialog.select(Dialog.id).where(in_range(Dialog, agent_id, channels, start, end) & having))
    return condition


def slots_by_id(slot_ids):
    """The slots of these ids (None, for "no slot", is left out), by id."""
    wanted = [slot_id for slot_id in slot_ids if slot_id is not None]
    return {slot.id: slot for slot in Slot.select().where(Slot.id.in_(wanted))} if wanted else {}
