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


def write_csv(path, rows, header=HEADER, separator=","):
    """Write header and rows as UTF-8 with BOM, RFC 4180 quoting and CRLF; with a `;`
    separator, percentages get a decimal comma (Excel's CSV in such locales)."""
    with written_whole(path) as partial, open(partial, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=separator, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([csv_cell(value, decimal_comma=separator == ";") for value in row] for row in rows)


XLSX_WIDEST = 60  # characters; longer texts wrap


def write_xlsx(path, rows, header=HEADER):
    """The same report as an Excel workbook (XlsxWriter): texts stored as text, so
    nothing runs as a formula and line breaks stay in their cell; numbers as numbers
    (percentages with two decimals); the header row frozen; columns as wide as their
    longest line, up to XLSX_WIDEST.

    Built in memory (XlsxWriter's in_memory mode; the rows are in memory already, one
    query's result) and written by us: a full disk is then a plain OSError, which the
    worker retries, and never strands a half-written zip inside XlsxWriter.
    """
    assembled = io.BytesIO()
    workbook = xlsxwriter.Workbook(assembled, {"in_memory": True, "strings_to_numbers": False,
                                               "strings_to_formulas": False, "strings_to_urls": False})
    sheet = workbook.add_worksheet("Report")
    bold = workbook.add_format({"bold": True})
    wrapped = workbook.add_format({"text_wrap": True, "valign": "top"})
    two_decimals = workbook.add_format({"num_format": "0.00", "valign": "top"})
    top = workbook.add_format({"valign": "top"})
    widths = [len(name) for name in header]
    sheet.write_row(0, 0, header, bold)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(number, column, value, wrapped if "\n" in value else top)
                widths[column] = max(widths[column], *(len(line) for line in value.split("\n")))
            else:
                sheet.write_number(number, column, value, two_decimals if isinstance(value, Decimal) else top)
                widths[column] = max(widths[column], len(str(value)))
    for column, width in enumerate(widths):
        sheet.set_column(column, column, min(width, XLSX_WIDEST) + 2)
    sheet.freeze_panes(1, 0)
    workbook.close()
    with written_whole(path, suffix=".xlsx") as partial, open(partial, "wb") as f:
        f.write(assembled.getvalue())
