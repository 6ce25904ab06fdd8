"""Reports: what every report kind counts and how it is written. One module per
reason to change:

- `periods`: the filters and their period, local dates in a time zone as UTC instants;
- `population`: which dialogs every report counts, and the slots they name;
- `dialog_lists`: the dialogs behind a preview number (a selector), a page at a time;
- `daily_sums`: a period's counts from the daily totals and the per-dialog rows;
- `files`: the CSV and the Excel workbook, as spreadsheets read them;
- `kinds`: one module per report kind, and building one agent's report;
- `localtime`: stored UTC times shown in the instance time zone.
"""
