"""The report family: each kind is one module with its KEY (file names, URLs),
LABEL (button), SUBJECT (the email's, before the agent's name), CSV HEADER and a
one-sentence EXPLANATION for the email. A report (`REPORTS`: the EXPORT panel's
buttons, the subscriptions' choices) has `build(agent_id, filters, tz) -> (rows,
counted dialogs)`; a new one is one new module and one line here. The queue, the
files and the email are shared with `transcripts`, the dialogs of a list, which is
streamed instead (`Rows`).
"""
import os

from reporting import files
from reporting.kinds import outcomes, slot_funnel, slot_paths, stop_slots, transcripts

REPORTS = {kind.KEY: kind for kind in (stop_slots, slot_funnel, slot_paths, outcomes)}
KINDS = {**REPORTS, transcripts.KEY: transcripts}
DEFAULT = stop_slots.KEY


def file_name(kind_key, agent_slug, date_from, date_to):
    """`<kind>_<agent-slug>_<from>_<to>.csv`, the slug cut (at a character) so that
    the name fits 255 bytes also as the workbook's (`xlsx_path`), one byte longer."""
    prefix, suffix = f"{kind_key}_", f"_{date_from.isoformat()}_{date_to.isoformat()}.csv"
    budget = 255 - len(prefix) - len(suffix) - len("x")
    return f"{prefix}{agent_slug.encode()[:budget].decode(errors='ignore')}{suffix}"


def build_report(kind_key, agent, filters, tz_name, path, separator=",", selector=None):
    """Compute one agent's report of this kind from the data as it is now and write
    it to `path` (the CSV, with this separator) and beside it as an Excel workbook
    (`xlsx_path`; for transcripts only up to files.XLSX_MAX_ROWS rows). `selector`
    picks the dialogs of transcripts. Returns the number of counted dialogs in it
    (0: an empty report). The CSV is written last: the item counts as built once it exists."""
    if kind_key == transcripts.KEY:
        rows = transcripts.Rows(agent.id, filters, tz_name, selector)
        files.write_streamed(path, xlsx_path(path), rows, transcripts.HEADER, separator)
        return rows.dialogs
    kind = REPORTS[kind_key]
    rows, counted = kind.build(agent.id, filters, tz_name)
    files.write_xlsx(xlsx_path(path), rows, kind.HEADER)
    files.write_csv(path, rows, kind.HEADER, separator)
    return counted


def xlsx_path(csv_path):
    """Where the workbook of the report at `csv_path` is."""
    return os.path.splitext(csv_path)[0] + ".xlsx"
