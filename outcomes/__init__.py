"""Outcomes: which of an agent's counted dialogs went well, as its team's rules say.

- `rules`: the rules themselves, checked, read from YAML or a form, said in words;
- `evaluation`: the rules as one SQL expression applied to dialogs, and the
  outcome of a dialog (with `Abandoned` and `In progress` following the clock);
- `recompute`: every dialog of an agent brought to its current rules, in batches.

`rules.OUTCOMES` holds the English names that rules files, the API and report files
use in both languages; `LABELS` are the same names as the pages and emails show them,
in the language of the page (or email) being written.
"""
from flask_babel import lazy_gettext as _l

# outcome key -> its name as people read it, in the order of rules.OUTCOMES
LABELS = {
    "completed": _l("Completed"),
    "escalated": _l("Escalated"),
    "failed": _l("Failed"),
    "abandoned": _l("Abandoned"),
    "in-progress": _l("In progress"),
}


def label(key):
    """The outcome's name in the current language ('Completed', 'Завершён'); the key itself if unknown."""
    return LABELS.get(key, key)
