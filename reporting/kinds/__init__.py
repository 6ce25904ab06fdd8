"""The report family: each kind is one module with its KEY (file names, URLs),
LABEL (button, subject), CSV HEADER, one-sentence EXPLANATION for the email,
and `build(agent_id, filters, tz) -> (rows, counted dialogs)`. A new kind is one
new module and one line here; the queue, the CSV writer and the email are shared."""
import os

from reporting import files
from reporting.kinds import slot_funnel, slot_paths, stop_slots

KINDS = {kind.KEY: kind for kind in (stop_slots, slot_funnel, slot_paths)}
DEFAULT = stop_slots.KEY


def file_name(kind_key, agent_slug, date_from, date_to):
    """`<kind>_<agent-slug>_<from>_<to>.csv`, the slug cut (at a character) so that
    the name fits 255 bytes also as the workbook's (`xlsx_path`), one byte longer."""
    prefix, suffix = f"{kind_key}_", f"_{date_from.isoformat()}_{date_to.isoformat()}.csv"
    budget = 255 - len(prefix) - len(suffix) - len("x")
    return f"{prefix}{agent_slug.encode()[:budget].decode(errors='ignore')}{suffix}"


def build_report(kind_key, agent, filters, tz_name, path, separator=","):
    """Compute one agent's report of this kind from the data as it is now and write
    it to `path` (the CSV, with this separator) and beside it as an Excel workbook
    (`xlsx_path`). Returns the number of counted dialogs in it (0: an empty report)."""
    kind = KINDS[kind_key]
    rows, counted = kind.build(agent.id, filters, tz_name)
    files.write_xlsx(xlsx_path(path), rows, kind.HEADER)
    files.write_csv(path, rows, kind.HEADER, separator)  # last: the item counts as built once its CSV exists
    return counted


def xlsx_path(csv_path):
    """Where the workbook of the report at `csv_path` is."""
    return os.path.splitext(csv_path)[0] + ".xlsx"
