"""The report family: each kind is one module with its key, button label, CSV
header, one-sentence explanation and `build(agent_id, filters, tz) -> (rows,
counted dialogs)`. A new kind is one new module and one line in KINDS."""
from report_kinds import slot_funnel, slot_paths

KINDS = {kind.KEY: kind for kind in (slot_funnel, slot_paths)}
