"""The Stop slots report, computed from stored events and read back as a spreadsheet would."""
import csv
import io
import os
import random
import re
import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone

import pytest

from ingest import rules, writer
from models import Dialog, Event
from reporting import files, kinds, periods
from reporting.kinds import stop_slots
from tests.conftest import make_agent

DAY = date(2026, 3, 1)
ALL_DAY = periods.Filters(agent_ids=(), date_from=DAY, date_to=DAY)

TRICKY_SLOTS = [
    rules.SlotIn("greet", "Greeting", "message", "Hello!\nI'm the bot.\r\n\nSecond paragraph, with a comma"),
    rules.SlotIn("quote", 'Say "cheese"', "question", 'He said "hi", twice ""'),
    rules.SlotIn("ru", "Приветствие", "message", "Здравствуйте! 你好 👋🏽"),
    rules.SlotIn("formula", "=HYPERLINK(\"http://x\")", "message", "+SUM(A1:A2)"),
    rules.SlotIn("minus", "-1 point", "@type", "\tindented"),
]


def at(minutes, day=DAY):
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=10, minutes=minutes)


def ev(dialog, sender, minutes, slot=None, channel="web", day=DAY):
    return rules.EventIn(dialog, channel, sender, slot, None, at(minutes, day))


def load(agent, *batches, slots=TRICKY_SLOTS):
    writer.upsert_slots(agent, slots)
    for batch in batches:
        writer.ingest_events(agent, batch)


def read_csv(path):
    with open(path, "rb") as f:
        raw = f.read()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark"
    text = raw.decode("utf-8-sig")
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture
def agent(app):
    with app.app_context():
        yield make_agent("Support Bot")[0]


def build(app, agent, tmp_path, filters=ALL_DAY, tz="UTC"):
    path = str(tmp_path / "out" / kinds.file_name("stop-slots", agent.slug, filters.date_from, filters.date_to))
    dialogs = kinds.build_report("stop-slots", agent, filters, tz, path)
    return dialogs, read_csv(path)


def test_report_counts_only_dialogs_with_a_user_message(app, agent, tmp_path):
    load(
        agent,
        [ev("a", "bot", 0, "greet"), ev("a", "user", 1), ev("a", "bot", 2, "quote")],  # stops at quote
        [ev("b", "user", 0), ev("b", "bot", 1, "greet")],  # stops at greet
        [ev("c", "bot", 0, "greet"), ev("c", "system", 1, "ru")],  # bot only: not counted
        [ev("d", "user", 0), ev("d", "system", 1)],  # no slot at all
        [ev("e", "user", 0, "greet")],
    )
    dialogs, rows = build(app, agent, tmp_path)
    assert dialogs == 4
    assert rows == [
        list(files.HEADER),
        ["greet", "Greeting", "message", "Hello!\nI'm the bot.\r\n\nSecond paragraph, with a comma", "2", "50.00"],
        ["", "(no slot)", "", "", "1", "25.00"],
        ["quote", 'Say "cheese"', "question", 'He said "hi", twice ""', "1", "25.00"],
    ]


def test_tricky_texts_round_trip_and_formulas_are_defused(app, agent, tmp_path):
    load(agent, [ev("a", "user", 0, "ru")], [ev("b", "user", 0, "formula")], [ev("c", "user", 0, "minus")])
    _, rows = build(app, agent, tmp_path)
    by_key = {row[0]: row for row in rows[1:]}
    assert by_key["ru"][1:4] == ["Приветствие", "message", "Здравствуйте! 你好 👋🏽"]
    assert by_key["formula"][1:4] == ["'=HYPERLINK(\"http://x\")", "message", "'+SUM(A1:A2)"]
    assert by_key["minus"][1:4] == ["'-1 point", "'@type", "'\tindented"]
    assert [row[5] for row in rows[1:]] == ["33.33", "33.33", "33.33"]


def test_raw_csv_quoting_is_rfc_4180(app, agent, tmp_path):
    load(agent, [ev("a", "user", 0, "quote")])
    path = tmp_path / "q.csv"
    kinds.build_report("stop-slots", agent, ALL_DAY, "UTC", str(path))
    assert path.read_bytes() == (
        "\ufeffSlot ID,Slot name,Slot type,Bot text,Dialogs,Share (%)\r\n"
        'quote,"Say ""cheese""",question,"He said ""hi"", twice """"",1,100.00\r\n'
    ).encode("utf-8")


def test_sort_is_by_dialogs_then_slot_name(app, agent, tmp_path):
    slots = [rules.SlotIn(k, n, "message", "") for k, n in [("k1", "Beta"), ("k2", "Alpha"), ("k3", "Gamma")]]
    batches = [[ev(f"{key}-{i}", "user", 0, key)] for key, n in [("k1", 1), ("k2", 1), ("k3", 2)] for i in range(n)]
    load(agent, *batches, slots=slots)
    _, rows = build(app, agent, tmp_path)
    assert [row[1] for row in rows[1:]] == ["Gamma", "Alpha", "Beta"]


def test_latest_slot_wins_across_batches_in_any_order(app, agent, tmp_path):
    load(agent, [ev("a", "bot", 5, "quote")], [ev("a", "user", 0, "greet")], [ev("a", "bot", 3, "ru")])
    _, rows = build(app, agent, tmp_path)
    assert [row[0] for row in rows[1:]] == ["quote"]


def test_equal_timestamps_resolve_by_arrival(app, agent, tmp_path):
    load(agent, [ev("a", "user", 0, "ru"), ev("a", "bot", 0, "greet")], [ev("b", "user", 0, "greet")], [ev("b", "bot", 0, "ru")])
    _, rows = build(app, agent, tmp_path)
    assert {row[0]: row[4] for row in rows[1:]} == {"greet": "1", "ru": "1"}


def test_unknown_slot_keys_are_reported_by_key(app, agent, tmp_path):
    load(agent, [ev("a", "user", 0, "brand-new")])
    _, rows = build(app, agent, tmp_path)
    assert rows[1][:3] == ["brand-new", "brand-new", "unknown"]


def test_empty_report_is_the_header_only(app, agent, tmp_path):
    load(agent, [ev("a", "bot", 0, "greet")])  # not counted
    dialogs, rows = build(app, agent, tmp_path)
    assert dialogs == 0
    assert rows == [list(files.HEADER)]


def test_channel_filter(app, agent, tmp_path):
    load(agent, [ev("a", "user", 0, "greet", channel="web")], [ev("b", "user", 0, "ru", channel="telegram")])
    filters = periods.Filters(agent_ids=(), date_from=DAY, date_to=DAY, channels=("telegram",))
    _, rows = build(app, agent, tmp_path, filters)
    assert [row[0] for row in rows[1:]] == ["ru"]


def test_period_is_by_start_in_the_instance_time_zone(app, agent, tmp_path):
    # Berlin is UTC+1 in March: local 1 March runs from 28 Feb 23:00 to 1 March 23:00 UTC.
    def starting(dialog, utc):
        return [rules.EventIn(dialog, "web", "user", "greet", None, utc)]

    load(
        agent,
        starting("before", datetime(2026, 2, 28, 22, 59)),
        starting("first-instant", datetime(2026, 2, 28, 23, 0)),
        starting("last-minute", datetime(2026, 3, 1, 22, 59)),
        starting("after", datetime(2026, 3, 1, 23, 0)),
    )
    # a dialog that started inside the day and went on past it still belongs to it
    writer.ingest_events(agent, [rules.EventIn("last-minute", "web", "bot", "ru", None, datetime(2026, 3, 2, 9, 0))])
    dialogs, rows = build(app, agent, tmp_path, tz="Europe/Berlin")
    assert dialogs == 2
    assert {row[0]: row[4] for row in rows[1:]} == {"greet": "1", "ru": "1"}
    assert build(app, agent, tmp_path, tz="UTC")[0] == 2  # in UTC: first-instant is 28 Feb, after is 1 March


def test_shares_sum_to_100_up_to_rounding():
    counts = [stop_slots.StopSlotCount(f"k{i}", f"n{i}", "t", "", n) for i, n in enumerate([1, 1, 1, 3, 7])]
    shares = [float(row[5]) for row in stop_slots.report_rows(counts)]
    assert shares == [53.85, 23.08, 7.69, 7.69, 7.69]
    assert abs(sum(shares) - 100) <= 0.01 * len(shares)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("=1+1", "'=1+1"), ("\nx", "'\nx"), ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""),
        (" =1", "' =1"), ("\u00a0+1", "'\u00a0+1"), ("\u200b@x", "'\u200b@x"), ("\ufeff-1", "'\ufeff-1"),
        ("\uff1d1+1", "'\uff1d1+1"), ("\uff0bA1", "'\uff0bA1"), ("\uff0d1", "'\uff0d1"), ("\uff20x", "'\uff20x"),
        ("a;=1+1", "a;'=1+1"), ("a; -2;b;@c", "a;' -2;b;'@c"), ("a;b", "a;b"), ("x; ok", "x; ok"),
    ],
)
def test_guard_formula(text, expected):
    assert files.guard_formula(text) == expected


def test_file_name():
    assert kinds.file_name("stop-slots", "support-bot", date(2026, 3, 1), date(2026, 3, 7)) == (
        "stop-slots_support-bot_2026-03-01_2026-03-07.csv"
    )


def test_summaries_equal_a_straightforward_recount(app, agent, tmp_path):
    """The per-dialog summary kept at ingestion matches a recount from raw events."""
    rng = random.Random(7)
    keys = ["greet", "quote", "ru", "formula", "minus", "unknown-1"]
    events = []
    for d in range(300):
        for _ in range(rng.randint(1, 6)):
            slot = rng.choice(keys + [None, None])
            events.append(ev(f"d{d}", rng.choice(["user", "bot", "bot", "system"]), rng.randint(-900, 900), slot))
    rng.shuffle(events)
    load(agent, *[events[i : i + 97] for i in range(0, len(events), 97)])

    expected = {}
    rows = Event.select(Event, Dialog).join(Dialog).order_by(Event.id)
    by_dialog = {}
    for e in rows:
        by_dialog.setdefault(e.dialog.external_id, []).append(e)
    for dialog_events in by_dialog.values():
        if not any(e.sender == "user" for e in dialog_events):
            continue
        start = min(e.timestamp for e in dialog_events)
        if start.date() != DAY:
            continue
        with_slot = [e for e in dialog_events if e.slot_id]
        stop = max(with_slot, key=lambda e: (e.timestamp, e.id)).slot.key if with_slot else ""
        expected[stop] = expected.get(stop, 0) + 1
    _, csv_rows = build(app, agent, tmp_path)
    assert {row[0]: int(row[4]) for row in csv_rows[1:]} == expected
    assert sum(expected.values()) > 50


def test_period_bounds_are_utc():
    start, end = periods.period_bounds(date(2026, 7, 1), date(2026, 7, 2), "America/New_York")
    assert (start, end) == (datetime(2026, 7, 1, 4, 0), datetime(2026, 7, 3, 4, 0))
    assert start.tzinfo is None and datetime.now(timezone.utc).tzinfo is not None


HOSTILE = ["=1+1", " =1+1", "\u00a0+SUM(A1)", "\u200b@x", "\uff1d1+1", "a;=1+1", "a; -2;b", "ok;@cmd", "Multi\nline;=3"]


def formulas_libreoffice_finds(csv_path, separator, tmp_path):
    """Open the CSV in LibreOffice Calc with `separator` as the list separator; the formulas it made."""
    soffice = shutil.which("soffice")
    if soffice is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice is not installed (.ci/run installs libreoffice-calc-nogui)")
        pytest.skip("LibreOffice is not installed")
    out = tmp_path / f"{csv_path.stem}-{ord(separator)}"
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
         f"--infilter=CSV:{ord(separator)},34,76,1", "--convert-to", "fods", "--outdir", str(out), str(csv_path)],
        check=True, capture_output=True, timeout=120,
    )
    (document,) = out.iterdir()
    return re.findall(r'table:formula="([^"]*)"', document.read_text())


@pytest.mark.e2e
@pytest.mark.parametrize("separator", [",", ";"])
def test_no_cell_becomes_a_formula_in_libreoffice(tmp_path, separator):
    counts = [stop_slots.StopSlotCount(f"k{i}", text, text, text, i + 1) for i, text in enumerate(HOSTILE)]
    path = tmp_path / "report.csv"
    files.write_csv(str(path), stop_slots.report_rows(counts))
    assert formulas_libreoffice_finds(path, separator, tmp_path) == []

    unguarded = tmp_path / "unguarded.csv"
    unguarded.write_text('Slot ID,Slot name\r\nk,"a;=1+1"\r\nj,=2+2\r\n', encoding="utf-8-sig")
    assert formulas_libreoffice_finds(unguarded, separator, tmp_path), "the check sees a formula when there is one"


def read_csv_cells(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_the_workbook_holds_what_the_csv_holds_typed_and_nothing_runs(tmp_path):
    from decimal import Decimal

    import openpyxl

    rows = [
        ["=SUM(A1:A2)", "+1 then", "-minus", "@at", 12, Decimal("37.50")],
        ["", "two\nlines", "tab\tinside", "naïve 顧客 🌊", 0, Decimal("0.00")],
        ["k", "x" * 300, "; =HYPERLINK(\"http://x\")", "'quoted", 7, Decimal("62.50")],
    ]
    csv_path, xlsx_path = tmp_path / "r.csv", tmp_path / "r.xlsx"
    files.write_csv(str(csv_path), rows)
    files.write_xlsx(str(xlsx_path), rows)
    sheet = openpyxl.load_workbook(xlsx_path).active
    cells = [[cell for cell in row] for row in sheet.iter_rows()]
    written = read_csv_cells(csv_path)
    assert [c.value for c in cells[0]] == written[0] == list(files.HEADER)
    for typed, in_csv, given in zip(cells[1:], written[1:], rows):
        for cell, text, value in zip(typed, in_csv, given):
            if isinstance(value, str):
                assert cell.data_type == "s" and (cell.value or "") == value, "text as given, never a formula"
                assert text == files.guard_formula(cell.value or "")
            else:
                assert cell.data_type == "n" and cell.value == float(text) == float(value)
    assert len(cells) == len(rows) + 1
    assert sheet.freeze_panes == "A2"
    assert cells[1][5].number_format == "0.00"
    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABCDEF"}
    assert widths["B"] == pytest.approx(files.XLSX_WIDEST + 2, abs=1) and widths["A"] >= len("=SUM(A1:A2)") and widths["F"] >= len("Share (%)")
    assert cells[2][1].alignment.wrap_text, "a multi-line text wraps in its cell"
