"""Stop slots: on which slot each counted dialog stopped (the original report)."""
import reports

KEY = "stop-slots"
LABEL = "Stop slots"
HEADER = reports.HEADER
EXPLANATION = "Each counted dialog is counted once, at the slot where it stopped; share = its dialogs ÷ all counted dialogs."


def build(agent_id, filters, tz_name):
    """(rows, counted dialogs) of the agent's Stop slots report."""
    counts = reports.stop_slot_counts(agent_id, filters, tz_name)
    return reports.report_rows(counts), sum(c.dialogs for c in counts)
