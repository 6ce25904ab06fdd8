"""`Export transcripts` on a dialog list: kind `transcripts` through the export pipeline,
one row per event of exactly the list's dialogs, streamed."""
import csv
import io
import os
import re
import tracemalloc
from datetime import datetime, timedelta

import openpyxl
import pytest

from export_queue import delivery
from extensions import mail
from ingest import rules, writer
from models import Account, ExportItem, ExportRequest
from reporting import files, kinds, periods
from reporting.kinds import transcripts

from .conftest import csrf_token

DAY = datetime(2026, 3, 10, 9, 0)  # UTC; 10:00 in Europe/Berlin
LIST = {"date_from": "2026-03-10", "date_to": "2026-03-10"}


def conversation(agent, name, stop, minute, channel="web", text="My order is 12345678, thanks"):
    """A made-up person's dialog: greeted, asked for the order, answered; stops at `stop`."""
    at = DAY + timedelta(minutes=minute)
    writer.ingest_events(agent, [
        rules.EventIn(name, channel, "bot", "greet", "Hello!\nHow can I help?", at),
        rules.EventIn(name, channel, "user", None, text, at + timedelta(seconds=5)),
        rules.EventIn(name, channel, "bot", stop, "One moment", at + timedelta(seconds=9)),
    ])


@pytest.fixture
def analyst(app, people, auth):
    support = people["support"]
    conversation(support, "d-late", "ask_order", 30)
    conversation(support, "d-early", "ask_order", 1, text="=HYPERLINK(\"http://x\")")
    conversation(support, "d-other", "goodbye", 10)
    conversation(support, "d-tg", "ask_order", 20, channel="tg")
    auth.login("analyst@example.com")
    return people


def export(client, people, **selector):
    data = {"agents": [people["support"].id], **LIST, **selector}
    page = "/dialogs?" + "&".join(f"{k}={v}" for k, v in data.items() if k != "agents") + f"&agents={people['support'].id}"
    return client.post("/dialogs/export", data={**data, "csrf_token": csrf_token(client, page)})


def download(client, message, extension=""):
    path = re.search(r"http://slotlens\.test(/exports/download/[\w.\-]+)", message.body).group(1)
    response = client.get(path + extension)
    body = response.get_data()
    response.close()
    return response.status_code, body


def rows_of(body, separator=","):
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=separator))


def test_the_list_exports_its_dialogs_events_oldest_first_in_local_time(app, client, analyst):
    app.config["TIMEZONE"] = "Europe/Berlin"
    with mail.record_messages() as outbox:
        response = export(client, analyst, stop_slot="ask_order")
    assert response.status_code == 302 and "stop_slot=ask_order" in response.headers["Location"]
    (message,) = outbox
    assert message.subject == "Transcripts: Support Bot, 2026-03-10 \u2013 2026-03-10"
    assert "The transcripts of the 3 dialogs that stopped at ask_order." in message.body
    assert "Dialogs:  dialogs that stopped at ask_order" in message.body
    assert "dialogs that stopped at ask_order" in message.html

    status, body = download(client, message)
    rows = rows_of(body)
    assert status == 200 and rows[0] == list(transcripts.HEADER)
    assert [row[0] for row in rows[1:]] == ["d-early"] * 3 + ["d-tg"] * 3 + ["d-late"] * 3, "the list's dialogs, oldest first"
    assert rows[1:4] == [
        ["d-early", "web", "2026-03-10 10:01:00", "2026-03-10 10:01:00", "bot", "greet", "greet", "Hello!\nHow can I help?"],
        ["d-early", "web", "2026-03-10 10:01:00", "2026-03-10 10:01:05", "user", "", "", "'=HYPERLINK(\"http://x\")"],
        ["d-early", "web", "2026-03-10 10:01:00", "2026-03-10 10:01:09", "bot", "ask_order", "ask_order", "One moment"],
    ]
    status, workbook = download(client, message, "/xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    cells = [[cell.value or "" for cell in row] for row in sheet.iter_rows()]
    assert status == 200 and cells[0] == rows[0] and len(cells) == len(rows)
    assert cells[2][7] == "=HYPERLINK(\"http://x\")" and sheet.cell(3, 8).data_type == "s", "text, never a formula"


def test_an_export_holds_exactly_the_lists_dialogs_for_each_selector(app, client, analyst):
    for selector, expected in (
        ({"stop_slot": "goodbye"}, {"d-other"}),
        ({"reached": "greet", "channels": "tg"}, {"d-tg"}),
        ({"from_slot": "greet", "to_slot": "ask_order"}, {"d-early", "d-tg", "d-late"}),
        ({"stop_slot": "(none)"}, set()),
        ({}, {"d-early", "d-other", "d-tg", "d-late"}),
    ):
        with mail.record_messages() as outbox:
            export(client, analyst, **selector)
        (message,) = outbox
        list_page = client.get("/dialogs", query_string={"agents": analyst["support"].id, **LIST, **selector}).get_data(as_text=True)
        assert re.search(rf"\b{len(expected)} dialogs?\b", list_page)
        assert {row[0] for row in rows_of(download(client, message)[1])[1:]} == expected, selector


def test_the_same_list_is_queued_once_and_another_selector_is_another_export(app, client, analyst, monkeypatch):
    monkeypatch.setattr(delivery, "enqueue", lambda items: None)  # no worker: the requests stay in flight
    first = export(client, analyst, stop_slot="ask_order")
    assert "The transcripts will be sent to analyst@example.com" in client.get(first.location).get_data(as_text=True)
    again = export(client, analyst, stop_slot="ask_order")
    assert "is already on its way" in client.get(again.location).get_data(as_text=True)
    export(client, analyst, stop_slot="goodbye")
    requests = list(ExportRequest.select().order_by(ExportRequest.id))
    assert [(r.kind, r.selector) for r in requests] == [
        ("transcripts", '{"stop_slot": "ask_order"}'), ("transcripts", '{"stop_slot": "goodbye"}')]
    exports = client.get("/exports").get_data(as_text=True)
    assert "Transcripts · request #2" in exports and "dialogs that stopped at goodbye" in exports


def test_a_foreign_agent_or_an_unknown_slot_queues_nothing(app, client, analyst):
    sales = analyst["sales"]
    response = client.post("/dialogs/export", data={"agents": [sales.id], **LIST, "csrf_token": csrf_token(client, "/dialogs")})
    assert response.status_code == 404
    response = export(client, analyst, stop_slot="no_such_slot")
    assert response.status_code == 400 and "No slot with the key &#39;no_such_slot&#39;" in response.get_data(as_text=True)
    response = export(client, analyst, stop_slot="ask_order", reached="greet")
    assert response.status_code == 400 and "at most one" in response.get_data(as_text=True)
    assert ExportRequest.select().count() == 0


def test_an_export_longer_than_a_workbook_comes_as_csv_and_the_email_says_so(app, client, analyst, monkeypatch):
    monkeypatch.setattr(files, "XLSX_MAX_ROWS", 5)
    with mail.record_messages() as outbox:
        export(client, analyst, stop_slot="ask_order")
    (message,) = outbox
    assert "/xlsx" not in message.body and "There is no workbook (.xlsx) this time" in message.body
    assert "more than 5 rows" in message.body and "There is no workbook" in message.html
    assert len(rows_of(download(client, message)[1])) == 1 + 9, "the CSV has them all"
    assert download(client, message, "/xlsx")[0] == 410
    assert ">Excel<" not in client.get("/exports").get_data(as_text=True)
    (item,) = ExportItem.select()
    assert os.listdir(os.path.join(app.config["REPORTS_DIR"], str(item.id))) == [
        "transcripts_support-bot_2026-03-10_2026-03-10.csv"], "no workbook, no partial file left"


def test_the_accounts_semicolon_separator_applies(app, client, analyst):
    Account.update(csv_separator=";").where(Account.email == "analyst@example.com").execute()
    with mail.record_messages() as outbox:
        export(client, analyst, stop_slot="goodbye")
    assert rows_of(download(client, outbox[0])[1], ";")[1][0] == "d-other"


def test_the_export_streams_in_flat_memory(app, people, tmp_path, monkeypatch):
    """Ten times the dialogs, not ten times the memory: batches of dialogs are read and
    written, never the whole export."""
    monkeypatch.setattr(transcripts, "BATCH", 50)
    support = people["support"]
    events = [
        rules.EventIn(f"m-{n}", "web", sender, "greet" if sender == "bot" else None, "A made-up sentence " * 5,
                      DAY + timedelta(seconds=n * 10 + i))
        for n in range(3_000) for i, sender in enumerate(("bot", "user", "bot"))
    ]
    writer.ingest_events(support, events)
    filters = periods.Filters((support.id,), DAY.date(), DAY.date())

    def peak(dialogs):
        monkeypatch.setattr(transcripts.dialog_lists, "source", limited(dialogs))
        tracemalloc.start()
        count = kinds.build_report("transcripts", support, filters, "UTC", str(tmp_path / f"{dialogs}.csv"),
                                   selector=transcripts.dialog_lists.Selector())
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert count == dialogs
        return peak_bytes

    original_source = transcripts.dialog_lists.source

    def limited(dialogs):
        def source(*args):
            model, dialog_id, condition = original_source(*args)
            return model, dialog_id, condition & (model.started_at < DAY + timedelta(seconds=dialogs * 10))
        return source

    small, large = peak(300), peak(3_000)
    assert large < small * 1.5, f"peak memory {small:,} bytes for 300 dialogs, {large:,} for 3,000"
