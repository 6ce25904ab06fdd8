"""The report family: each kind is one module with its KEY (file names, URLs),
LABEL (button, subject), CSV HEADER, one-sentence EXPLANATION for the email,
and `build(agent_id, filters, tz) -> (rows, counted dialogs)`. A new kind is one
new module and one line here; the queue, the CSV writer and the email are shared."""
import reports
from report_kinds import slot_funnel, slot_paths, stop_slots

KINDS = {kind.KEY: kind for kind in (stop_slots, slot_funnel, slot_paths)}
DEFAULT = stop_slots.KEY


def file_name(kind_key, agent_slug, date_from, date_to):
    """`<kind>_<agent-slug>_<from>_<to>.csv`, the slug cut (at a character) to fit 255 bytes."""
    prefix, suffix = f"{kind_key}_", f"_{date_from.isoformat()}_{date_to.isoformat()}.csv"
    budget = 255 - len(prefix) - len(suffix)
    return f"{prefix}{agent_slug.encode()[:budget].decode(errors='ignore')}{suffix}"


def build_report(kind_key, agent, filters, tz_name, path):
    """Compute one agent's report of this kind from the data as it is now and write
    it to `path`. Returns the number of counted dialogs in it (0: an empty report)."""
    kind = KINDS[kind_key]
    rows, counted = kind.build(agent.id, filters, tz_name)
    reports.write_csv(path, rows, kind.HEADER)
    return counted
