"""Texts a worker stores with no reader in sight (a scheduled run's note, an import's
error): written in English, the language of the log and the command line, and shown
in the language of whoever reads them later.

Each is made from an English template that is also its message id (`N_` marks it for
`make messages` without translating it), so a page finds the template a stored text was
made from, takes its values back and says it again through gettext. Rows stored before
a template was marked read back the same way, and a text no template made is shown as
stored, so nothing already written is lost. Storing the parts instead (a code and its
values) would need a migration that reads the English of the stored rows all the same,
and a second way to show the rows it cannot read.
"""
import re

from flask_babel import gettext

VALUE = re.compile(r"%\\\((\w+)\\\)s")  # a %(name)s placeholder, as re.escape leaves it


def N_(text):
    """Mark `text` for translation and return it untranslated: the English is stored."""
    return text


class StoredText:
    """One English template of stored texts, e.g. 'line %(line)s cannot be read as CSV (%(detail)s)';
    `values` may say what a value looks like (a regular expression, e.g. number=r"\\d+"),
    where the words around it could also stand inside another (a file named 'my event log.json')."""

    def __init__(self, template, **values):
        self.template = template
        self.pattern = re.compile(VALUE.sub(lambda found: f"(?P<{found[1]}>{values.get(found[1], '.+?')})", re.escape(template)))

    def english(self, **values):
        """The text to store."""
        return self.template % values

    def say(self, **values):
        """The text in the current language."""
        return gettext(self.template, **values)

    def read(self, text):
        """The values `text` was made with, or None when this template did not make it."""
        found = self.pattern.fullmatch(text)
        return found.groupdict() if found else None

    @property
    def lead(self):
        """The words before its first value: what a query for such texts looks for."""
        return self.template.partition("%(")[0]


def shown(text, templates=(), translated=True):
    """A stored `text` in the current language: said again from the template that made
    it, translated when it is a message id itself (unless not `translated`: a file's
    name is not a message), else as stored."""
    for template in templates:
        values = template.read(text)
        if values is not None:
            return template.say(**values)
    return gettext(text) if text and translated else text  # gettext("") is the catalogue's header
