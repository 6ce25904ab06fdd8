"""The files of a report: a CSV and an Excel workbook, written the way spreadsheets
read them, from rows of plain values (texts as they are, counts as ints,
percentages as Decimals, see `share_percent`) that every report kind builds.
"""
import contextlib
import csv
import io
import os
import re
import tempfile
from decimal import ROUND_HALF_UP, Decimal

import xlsxwriter

HEADER = ("Slot ID", "Slot name", "Slot type", "Bot text", "Dialogs", "Share (%)")  # the Stop slots report's columns: the writers' default
# OWASP CSV injection: a cell starting with one of these may run as a formula, also
# in their full-width forms, and also behind characters a person does not see.
FORMULA_TRIGGERS = "=+-@\t\r\n\uff1d\uff0b\uff0d\uff20"
INVISIBLE = " \u00a0\u2007\u202f\u3000\u200b\u200c\u200d\u2060\ufeff"
STARTS_A_FORMULA = re.compile(f"(^|;)(?=[{INVISIBLE}]*[{re.escape(FORMULA_TRIGGERS)}])")


def share_percent(dialogs, total):
    """`dialogs` as a percentage of `total`, two decimals, rounded half up."""
    return (Decimal(dialogs) * 100 / Decimal(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def guard_formula(text):
    """Put an apostrophe before anything a spreadsheet could run as a formula: the
    cell's start and, because Excel in locales whose list separator is `;` splits
    a cell there, the start of each `;`-separated part."""
    return STARTS_A_FORMULA.sub(lambda match: match.group(1) + "'", text)


def csv_cell(value, decimal_comma=False):
    """A row's value as the CSV writes it: text guarded against formulas, numbers as
    they are (a percentage with a decimal comma, if asked)."""
    if isinstance(value, str):
        return guard_formula(value)
    if decimal_comma and isinstance(value, Decimal):
        return str(value).replace(".", ",")
    return value


@contextlib.contextmanager
def written_whole(path, suffix=".partial"):
    """A temporary name beside `path` to write to; renamed to `path` when done, so a
    reader never sees half a file, and removed on any failure (a full disk must not
    keep half a file)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=suffix)
    os.close(descriptor)
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise


def csv_writer(f, separator):
    """Writes rows as UTF-8 with BOM (the file's encoding), RFC 4180 quoting and CRLF;
    with a `;` separator, percentages get a decimal comma (Excel's CSV in such locales)."""
    writer = csv.writer(f, delimiter=separator, lineterminator="\r\n")
    return lambda row: writer.writerow([csv_cell(value, decimal_comma=separator == ";") for value in row])


def write_csv(path, rows, header=HEADER, separator=","):
    """Write header and rows as a CSV spreadsheets read (`csv_writer`)."""
    with written_whole(path) as partial, open(partial, "w", encoding="utf-8-sig", newline="") as f:
        write_row = csv_writer(f, separator)
        write_row(header)
        for row in rows:
            write_row(row)


XLSX_WIDEST = 60  # characters; longer texts wrap
XLSX_MAX_ROWS = 1_000_000  # a longer export comes as CSV only (Excel's own limit is 1,048,576 rows)


class Sheet:
    """A report as an Excel workbook (XlsxWriter), added to row by row: texts stored as
    text, so nothing runs as a formula and line breaks stay in their cell; numbers as
    numbers (percentages with two decimals); the header row frozen; columns as wide as
    their longest line, up to XLSX_WIDEST.

    `target` is a file name, written at `close` with rows kept in XlsxWriter's temporary
    files (`streamed`: flat memory, for exports of any length), or a BytesIO.
    """

    def __init__(self, target, header, streamed=False):
        options = {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}
        options |= {"constant_memory": True, "tmpdir": os.path.dirname(target)} if streamed else {"in_memory": True}
        self.workbook = xlsxwriter.Workbook(target, options)
        self.sheet = self.workbook.add_worksheet("Report")
        self.wrapped = self.workbook.add_format({"text_wrap": True, "valign": "top"})
        self.two_decimals = self.workbook.add_format({"num_format": "0.00", "valign": "top"})
        self.top = self.workbook.add_format({"valign": "top"})
        self.widths = [len(name) for name in header]
        self.sheet.write_row(0, 0, header, self.workbook.add_format({"bold": True}))
        self.sheet.freeze_panes(1, 0)
        self.rows = 0

    def add(self, row):
        self.rows += 1
        for column, value in enumerate(row):
            if isinstance(value, str):
                self.sheet.write_string(self.rows, column, value, self.wrapped if "\n" in value else self.top)
                self.widths[column] = max(self.widths[column], *(len(line) for line in value.split("\n")))
            else:
                self.sheet.write_number(self.rows, column, value, self.two_decimals if isinstance(value, Decimal) else self.top)
                self.widths[column] = max(self.widths[column], len(str(value)))

    def close(self):
        """Finish the workbook; a failure to write it is the OSError it was (a full disk, say)."""
        for column, width in enumerate(self.widths):
            self.sheet.set_column(column, column, min(width, XLSX_WIDEST) + 2)
        try:
            self.workbook.close()
        except xlsxwriter.exceptions.FileCreateError as exc:
            raise exc.args[0] from None


def write_xlsx(path, rows, header=HEADER):
    """The report as an Excel workbook (`Sheet`), built in memory (the rows are in memory
    already, one query's result) and written by us: a full disk is then a plain OSError,
    which the worker retries, and never strands a half-written zip inside XlsxWriter."""
    assembled = io.BytesIO()
    sheet = Sheet(assembled, header)
    for row in rows:
        sheet.add(row)
    sheet.close()
    with written_whole(path, suffix=".xlsx") as partial, open(partial, "wb") as f:
        f.write(assembled.getvalue())


def write_streamed(path, xlsx_path, rows, header, separator=","):
    """Write rows of any number, read once, as the CSV at `path` and the workbook at
    `xlsx_path` together, in flat memory. A workbook of more than XLSX_MAX_ROWS rows
    is not kept (nor one an earlier attempt left). Returns whether it was."""
    with written_whole(path) as csv_partial, open(csv_partial, "w", encoding="utf-8-sig", newline="") as f:
        write_row = csv_writer(f, separator)
        write_row(header)
        try:
            with written_whole(xlsx_path, suffix=".xlsx") as xlsx_partial:
                sheet = Sheet(xlsx_partial, header, streamed=True)
                try:
                    for row in rows:
                        write_row(row)
                        if sheet.rows <= XLSX_MAX_ROWS:
                            sheet.add(row)
                finally:
                    sheet.close()
                if sheet.rows > XLSX_MAX_ROWS:
                    raise TooLongForAWorkbook  # written_whole removes the partial workbook
        except TooLongForAWorkbook:
            with contextlib.suppress(FileNotFoundError):
                os.remove(xlsx_path)  # one an earlier attempt left
            return False
    return True


class TooLongForAWorkbook(Exception):
    """Leaves `write_streamed`'s workbook unwritten."""
