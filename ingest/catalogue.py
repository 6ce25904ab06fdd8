"""An agent's slot catalogue as a file: the list `PUT /api/v1/slots` takes, as JSON,
or as CSV with the columns key, name, type, text, so that a team can edit its slot
names in a spreadsheet and upload them back. Reading only turns the file into that
list; `rules.validate_slots` checks it, as it does for the API.

The CSV is written as the reports are (UTF-8 with BOM, texts guarded against running
as formulas: `'=Refund policy`), and the guard is taken off again when it comes back,
so that a round trip through a spreadsheet changes nothing."""
import csv
import io
import json
import re

from flask_babel import gettext as _

from reporting.files import FORMULA_TRIGGERS, INVISIBLE, guard_formula

COLUMNS = ("key", "name", "type", "text")


class CatalogueError(ValueError):
    """The file is not a catalogue at all; the message says what it should be."""


def as_json(slots):
    return json.dumps([{column: getattr(slot, column) for column in COLUMNS} for slot in slots], ensure_ascii=False, indent=2)


GUARDED = re.compile(f"(^|;)'(?=[{INVISIBLE}]*[{re.escape(FORMULA_TRIGGERS)}])")  # what guard_formula adds


def as_csv(slots):
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads UTF-8 only with it
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows([guard_formula(getattr(slot, column)) for column in COLUMNS] for slot in slots)
    return out.getvalue()


def read(data, filename):
    """(entries, first_row) of an uploaded catalogue (bytes): JSON when it is named
    *.json or starts with "[" (first_row None), else CSV with a header row (comma,
    semicolon or tab; an empty `text` is no text), whose first entry is on row 2."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogueError(_("The file is not UTF-8 text. Save it as UTF-8 (CSV UTF-8 in Excel) and upload it again.")) from None
    if filename.lower().endswith(".json") or text.lstrip().startswith("["):
        try:
            return json.loads(text), None
        except ValueError as exc:
            raise CatalogueError(_("The file is not valid JSON (line %(line)s): a list like the API's PUT /api/v1/slots takes.",
                                   line=exc.lineno)) from None
    return read_csv(text), 2


def read_csv(text):
    try:  # the header row tells the delimiter; quoting is always CSV's own (doubled quotes)
        delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    rows = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in rows.fieldnames or ()]
    missing = [column for column in COLUMNS[:3] if column not in header]
    if missing:
        raise CatalogueError(_("The CSV's first row must name the columns key, name, type and (optionally) text; "
                               "missing: %(missing)s.", missing=", ".join(missing)))
    rows.fieldnames = header
    return [{column: GUARDED.sub(r"\1", row.get(column) or "") for column in COLUMNS if column in header} for row in rows]
