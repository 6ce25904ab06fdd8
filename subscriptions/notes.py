"""A scheduled run's note: that it started late, and which agents it left out.

The sweep writes the note once, in English, when the run starts (`languages.stored`);
pages read it back and say it in their reader's language. The English stays the stored
form, rather than columns of its own, so that runs stored before read the same way and
`lists.failed_runs` finds the runs that left agents out by LEFT_OUT's words.
"""
import re

from flask_babel import force_locale

from languages.formats import ngettext
from languages.stored import N_, StoredText
from reporting.localtime import format_local

LATE = StoredText(N_("Late: no worker was running at the due time (%(due)s), or this account's earlier scheduled emails were still on their way."))
LEFT_OUT = StoredText(N_("Left out, no longer visible to this account: %(agents)s."))
DELETED = StoredText("%(num)s deleted agent(s)")  # the last of LEFT_OUT's agents; shown with the language's plural
NOTE = re.compile(rf"(?:{LATE.pattern.pattern})? ?(?:{LEFT_OUT.pattern.pattern})?")  # either, or both as `note` joins them


def note(due=None, tz_name=None, names=(), deleted=0):
    """The note of a run that started late (`due` is when it was due) or left out agents
    that are no longer visible (their `names`, and how many were `deleted`); None without either."""
    if due:
        with force_locale("en"):  # the stored English writes its time as English does, whoever's language is in force
            said = [LATE.english(due=format_local(due, tz_name))]
    else:
        said = []
    if names or deleted:
        said.append(LEFT_OUT.english(agents=", ".join([*names, *[DELETED.english(num=deleted)] * bool(deleted)])))
    return " ".join(said) or None


def in_words(run, tz_name):
    """The run's note in the current language ('' without one), its due time as the
    language writes times; a note no template made is shown as stored."""
    found = NOTE.fullmatch(run.note or "")
    if found is None:
        return run.note
    said = [LATE.say(due=format_local(run.due_at, tz_name))] if found["due"] else []
    if found["agents"]:
        said.append(LEFT_OUT.say(agents=agents_in_words(found["agents"])))
    return " ".join(said)


def agents_in_words(agents):
    """LEFT_OUT's agents, the count of the deleted ones with the language's plural."""
    names, comma, last = agents.rpartition(", ")
    deleted = DELETED.read(last)
    if deleted is None or not deleted["num"].isdigit():
        return agents
    return names + comma + ngettext("%(num)s deleted agent", "%(num)s deleted agents", int(deleted["num"]))
