"""Outcomes: which of an agent's counted dialogs went well, as its team's rules say.

- `rules`: the rules themselves, checked, read from YAML or a form, said in words;
- `evaluation`: the rules as one SQL expression applied to dialogs, and the
  outcome of a dialog (with `Abandoned` and `In progress` following the clock);
- `recompute`: every dialog of an agent brought to its current rules, in batches.
"""
