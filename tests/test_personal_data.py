"""Personal data (SPEC "Personal data"): masking before storage on every way in."""
import io
import json
import os
import re
import signal
from datetime import date, datetime, timedelta

import pytest

from database import db
from extensions import mail
from ingest import rules, writer
from models import Account, Agent, AuditEntry, Dialog, Event, ExportItem, ImportJob, Slot
from privacy import erasure, retention
from privacy.masking import Masker, compile_also_mask, luhn_valid
from reporting import dialog_lists, kinds, periods

from .conftest import csrf_token, event

RAW = {  # made-up people's data, as they type it
    "phone_ru": "+7 (912) 345-67-89",
    "phone_national": "8 912 345 67 89",
    "email": "ivan.petrov@example.ru",
    "card": "4111 1111 1111 1111",
}
SAYS = (f"Здравствуйте! Мой телефон {RAW['phone_ru']}, запасной {RAW['phone_national']}, "
        f"почта {RAW['email']}, карта {RAW['card']}.")
MASKED = "Здравствуйте! Мой телефон [phone], запасной [phone], почта [email], карта [card]."


@pytest.mark.parametrize("text, masked", [
    (SAYS, MASKED),
    ("Call me at +44 20 7946 0958 or +49 (30) 901820", "Call me at [phone] or [phone]"),
    ("89123456789, +79123456789", "[phone], [phone]"),
    ("Mastercard 5500-0000-0000-0004 please", "Mastercard [card] please"),
    ("card 4111 1111 1111 1112 fails Luhn", "card 4111 1111 1111 1112 fails Luhn"),
    ("Order 1234567 on 12.03.2026 14:30, total 12 990.50 ₽", "Order 1234567 on 12.03.2026 14:30, total 12 990.50 ₽"),
    ("Заказ №12345678 от 2026-03-12, 3 шт. по 1 299,00", "Заказ №12345678 от 2026-03-12, 3 шт. по 1 299,00"),
    ("call 8 912 345 67 89 on 12.03.2026", "call [phone] on 12.03.2026"),
    ("write to a.b+c@mail.example.com.", "write to [email]."),
    ("+7 912 3456789, (495) 1234567, +49 30 12345678", "[phone], [phone], [phone]"),
    ("06.12.34.56.78 or 06-12-34-56-78", "[phone] or [phone]"),
    ("4111 1111 1111 1111 123, and 8 912 345 67 89 8 916 123 45 67", "[card], and [phone]"),
    ("", ""),
])
def test_masking_replaces_what_identifies_a_person_and_keeps_dates_orders_and_prices(text, masked):
    assert Masker(True).mask(text) == masked


def test_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_also_mask_expressions_are_checked_and_bounded():
    with pytest.raises(ValueError, match=r"Expression 2 “\(a” is not one Slotlens can run; the regular expression engine \(RE2\) says “missing \): \(a”"):
        compile_also_mask("ORD-\\d{6}\n(a")
    with pytest.raises(ValueError, match="Lookarounds"):
        compile_also_mask("(?<=x)y")
    for empty in ("a*", "\\b", "x*\\b"):
        with pytest.raises(ValueError, match="can match an empty text"):
            compile_also_mask(empty)
    nested = Masker(True, tuple(compile_also_mask("(a+)+$\nORD-\\d{6}")))
    signal.alarm(10)  # Python's re takes years here; RE2 is linear
    try:
        assert nested.mask("a" * 10_000 + "!") == "a" * 10_000 + "!"
        assert nested.mask("ORD-123456 aaaa") == "[masked] [masked]"
    finally:
        signal.alarm(0)


def stored_texts():
    return sorted(text for (text,) in Event.select(Event.text).where(Event.text.is_null(False) & (Event.text != "")).tuples())


def database_bytes(app):
    """Every byte of the SQLite database: the file and its write-ahead log."""
    path = app.config["DATABASE_URL"][len("sqlite:///"):]
    found = b""
    for name in (path, path + "-wal"):
        if os.path.exists(name):
            with open(name, "rb") as f:
                found += f.read()
    return found


def assert_nothing_raw(app):
    texts = "\n".join(stored_texts())
    for raw in RAW.values():
        assert raw not in texts
    if app.config["DATABASE_URL"].startswith("sqlite"):
        db.close()
        everything = database_bytes(app)
        for raw in [*RAW.values(), "ivan.petrov", "345-67-89"]:
            assert raw.encode() not in everything, f"{raw} is in the database file"


def rasa_tracker(sender_id, text):
    """A tracker as Rasa's GET /conversations/<sender_id>/tracker returns it (the fields the importer reads)."""
    return {"sender_id": sender_id, "slots": {}, "latest_message": {}, "latest_input_channel": "rest", "events": [
        {"event": "action", "timestamp": 1772366400.0, "name": "action_session_start"},
        {"event": "session_started", "timestamp": 1772366400.001},
        {"event": "action", "timestamp": 1772366400.002, "name": "action_listen"},
        {"event": "user", "timestamp": 1772366401.0, "text": text, "input_channel": "rest",
         "parse_data": {"intent": {"name": "inform", "confidence": 0.99}, "entities": []}},
        {"event": "action", "timestamp": 1772366401.5, "name": "utter_thanks"},
        {"event": "bot", "timestamp": 1772366401.6, "text": f"Thanks! We write to {RAW['email']}",
         "metadata": {"utter_action": "utter_thanks"}},
    ]}


def test_every_way_in_masks_before_anything_is_written(app, client, auth, runner, people, tmp_path):
    support, key = people["support"], people["support_key"]
    response = client.post("/api/v1/events", json=[event("api-1", "user", "2026-03-01T10:00:00+00:00", text=SAYS)],
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_json()

    events_file = tmp_path / "events.jsonl"
    events_file.write_text(json.dumps(event("file-1", "user", "2026-03-01T10:01:00+00:00", text=SAYS)) + "\n")
    assert runner.invoke(args=["import-events", str(events_file), "--agent", "Support Bot"]).exit_code == 0

    tracker = tmp_path / "tracker.json"
    tracker.write_text(json.dumps(rasa_tracker("rasa-1", SAYS), ensure_ascii=False))
    assert runner.invoke(args=["import-rasa", str(tracker), "--agent", "Support Bot"]).exit_code == 0

    log = tmp_path / "log.csv"
    log.write_text(f'conv,at,who,text\ncsv-1,2026-03-01T10:02:00+00:00,user,"{SAYS}"\n', encoding="utf-8")
    result = runner.invoke(args=["import-csv", str(log), "--agent", "Support Bot",
                                 "--map", "dialog_id=conv,timestamp=at,sender=who,text=text"])
    assert result.exit_code == 0, result.output

    auth.login("admin@example.com")
    upload = json.dumps(event("upload-1", "user", "2026-03-01T10:03:00+00:00", text=SAYS)).encode()
    response = client.post("/admin/import/", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/admin/import/"), "agent": str(support.id), "kind": "events",
        "upload": (io.BytesIO(upload), "events.jsonl")})
    assert response.status_code == 302

    assert stored_texts().count(MASKED) == 5, "API, import-events, import-rasa, import-csv, Admin → Import"
    assert Slot.get(Slot.key == "utter_thanks").text == "Thanks! We write to [email]", "a slot's text taken from a bot event"
    assert_nothing_raw(app)


def test_masking_off_keeps_texts_as_they_came_and_new_agents_mask(app, people):
    assert Agent.get_by_id(people["support"].id).mask_personal_data, "on for new agents"
    Agent.update(mask_personal_data=False).execute()
    writer.ingest_events(Agent.get(), [rules.EventIn("d", "web", "user", None, SAYS, datetime(2026, 3, 1))])
    assert stored_texts() == [SAYS]


def test_a_resent_event_is_still_a_duplicate_once_masked(app, people):
    agent = Agent.get_by_id(people["support"].id)
    batch = [rules.EventIn("d", "web", "user", None, SAYS, datetime(2026, 3, 1))]
    assert writer.ingest_events(agent, batch)[0] == 1
    assert writer.ingest_events(agent, batch) == (0, 1)


def test_the_agent_page_saves_masking_and_refuses_a_bad_expression(app, client, auth, people):
    auth.login("admin@example.com")
    agent_id = people["support"].id
    page = f"/admin/agents/{agent_id}"
    response = client.post(f"{page}/privacy", data={"csrf_token": csrf_token(client, page), "mask_personal_data": "y",
                                                   "also_mask": "ORD-\\d{6}\n(unclosed"})
    assert response.status_code == 400
    assert "Expression 2 “(unclosed” is not one Slotlens can run; the regular expression engine (RE2) says “missing ): (unclosed”" in response.get_data(as_text=True)
    assert Agent.get_by_id(agent_id).also_mask == ""
    response = client.post(f"{page}/privacy", data={"csrf_token": csrf_token(client, page), "also_mask": " ORD-\\d{6} \n\n"})
    assert response.status_code == 302
    agent = Agent.get_by_id(agent_id)
    assert (agent.mask_personal_data, agent.also_mask) == (False, "ORD-\\d{6}")
    Agent.update(mask_personal_data=True).execute()
    writer.ingest_events(Agent.get_by_id(agent_id), [rules.EventIn("d", "web", "user", None, "ORD-123456 ok", datetime(2026, 3, 1))])
    assert stored_texts() == ["[masked] ok"]


# Texts that expire ------------------------------------------------------------------

NOW = datetime(2026, 3, 31, 12, 0)


def told(agent, name, started, words):
    """A made-up person's dialog: the bot asks, they answer with `words`."""
    writer.ingest_events(agent, [
        rules.EventIn(name, "web", "bot", "ask", "What is your question?", started),
        rules.EventIn(name, "web", "user", None, words, started + timedelta(seconds=5)),
        rules.EventIn(name, "web", "bot", "answer", "Thanks!", started + timedelta(seconds=9)),
    ])


def numbers(agent_id):
    """Every number the reports and lists give for March."""
    filters = periods.Filters((agent_id,), date(2026, 3, 1), date(2026, 3, 31))
    found = {kind: kinds.REPORTS[kind].build(agent_id, filters, "Europe/Berlin")[0] for kind in kinds.REPORTS}
    found["list"] = dialog_lists.dialog_page(filters, "Europe/Berlin", dialog_lists.Selector(stop_slot="answer")).total
    return found


@pytest.fixture
def history(app, people):
    agent = Agent.get_by_id(people["support"].id)
    for n in range(5):
        told(agent, f"old-{n}", NOW - timedelta(days=40 - n), f"old words kiwi-{n}-banana")
    told(agent, "new-0", NOW - timedelta(days=2), "new words mango-papaya")
    return agent


def test_the_purge_removes_old_texts_in_batches_and_every_number_stays(app, client, auth, history, monkeypatch):
    monkeypatch.setattr(retention, "utcnow", lambda: NOW)
    before = numbers(history.id)
    assert retention.purge_texts(30, batch=2) == 5
    assert numbers(history.id) == before
    assert stored_texts() == ["Thanks!", "What is your question?", "new words mango-papaya"], \
        "the bot's lines go too: a purged dialog keeps no text at all"
    assert {d.external_id: d.texts_removed for d in Dialog.select()} == {**{f"old-{n}": "expired:30" for n in range(5)}, "new-0": None}
    assert retention.purge_texts(30) == 0, "a purged dialog is not purged again"
    if app.config["DATABASE_URL"].startswith("sqlite"):
        everything = database_bytes(app)  # the connection still open: the log is emptied by the purge itself
        assert b"mango-papaya" in everything and b"kiwi-" not in everything, "no removed text in the file or its log"

    app.config["TRANSCRIPT_DAYS"] = 0  # set back since: the transcript still says what was done
    auth.login("admin@example.com")
    old = Dialog.get(Dialog.external_id == "old-0")
    writer.ingest_events(history, [rules.EventIn("old-0", "web", "system", None, None, NOW - timedelta(days=40, seconds=-1))])
    page = client.get(f"/dialogs/{old.id}").get_data(as_text=True)
    assert page.count("Text removed after 30 days") == 3 and "kiwi" not in page
    assert page.count("(no text)") == 1, "an event that never had a text does not say it was removed"
    writer.ingest_events(history, [rules.EventIn("old-0", "web", "user", None, "late words kiwi-late", NOW)])
    assert Event.select().where(Event.text.contains("kiwi")).count() == 0, "a late text of an expired dialog goes at once"


def test_purge_texts_command_and_the_hourly_task(app, runner, history, monkeypatch):
    assert runner.invoke(args=["purge-texts"]).output == "TRANSCRIPT_DAYS is 0: texts are kept, nothing was removed.\n"
    assert Event.select().where(Event.text.contains("kiwi")).count() == 5
    app.config["TRANSCRIPT_DAYS"] = 39
    monkeypatch.setattr(retention, "utcnow", lambda: NOW)
    assert runner.invoke(args=["purge-texts"]).output.startswith("Removed the texts of 1 dialog(s) that started more than 39 days ago")
    app.config["TRANSCRIPT_DAYS"] = 30
    import tasks

    tasks.purge_expired_texts.call_local()
    assert Event.select().where(Event.text.contains("kiwi")).count() == 0
    assert Event.select().where(Event.text.contains("mango")).count() == 1


# Erasure on request -------------------------------------------------------------------


def test_erasing_a_dialog_by_api_leaves_its_counts_and_no_trace(app, client, history, people, caplog):
    key, other_key = people["support_key"], people["sales_key"]
    before = numbers(history.id)
    assert client.delete("/api/v1/dialogs/old-3", headers={"Authorization": f"Bearer {other_key}"}).status_code == 404
    response = client.delete("/api/v1/dialogs/old-3", headers={"Authorization": f"Bearer {key}"})
    assert (response.status_code, response.get_json()) == (200, {"erased": 1})
    assert numbers(history.id) == before
    erased = Dialog.get(Dialog.texts_removed == "erased")
    assert erased.external_id.startswith("erased-") and len(erased.external_id) > 20
    assert [e.text for e in Event.select().where(Event.dialog == erased.id)] == ["", "", ""]
    again = client.delete("/api/v1/dialogs/old-3", headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 404 and Dialog.select().count() == 6, "harmless when repeated"
    assert client.delete("/api/v1/dialogs/old-3").status_code == 401
    assert "old-3" not in caplog.text and "/api/v1/dialogs/<dialog_id>" in caplog.text, "the ID stays out of the logs"
    if app.config["DATABASE_URL"].startswith("sqlite"):
        db.close()
        everything = database_bytes(app)
        assert b"kiwi-3-banana" not in everything and b"kiwi-2-banana" in everything
        assert b"old-3" not in everything, "the old ID is gone from the file too"

    told(Agent.get_by_id(history.id), "old-3", NOW, "back again")
    assert Dialog.select().count() == 7, "a later event with the old ID starts a new dialog"


def test_erase_dialog_command_and_the_audit_and_import_reasons_follow(app, runner, client, auth, history):
    job = ImportJob.create(account=Account.get(), agent=history, kind="events", file_name="x.jsonl", path="/nowhere",
                           reasons=json.dumps([["line 3", "dialog 'old-1' is stored on channel 'web'"]]))
    auth.login("admin@example.com")
    old = Dialog.get(Dialog.external_id == "old-1")
    client.get(f"/dialogs/{old.id}")
    assert AuditEntry.get().dialog.external_id == "old-1"
    result = runner.invoke(args=["erase-dialog", "old-1", "--agent", "Support Bot"])
    assert result.exit_code == 0 and "Erased the dialog" in result.output and "old-1" not in result.output
    assert Dialog.get_by_id(old.id).external_id in result.output, "says the new ID"
    assert AuditEntry.get().dialog.external_id == Dialog.get_by_id(old.id).external_id != "old-1"
    assert "old-1" not in client.get("/admin/audit").get_data(as_text=True)
    assert "old-1" not in ImportJob.get_by_id(job.id).reasons and "'erased-" in ImportJob.get_by_id(job.id).reasons
    missing = runner.invoke(args=["erase-dialog", "old-1", "--agent", "Support Bot"])
    assert missing.exit_code == 1 and "has no dialog with that ID" in missing.output


def test_erasure_withdraws_the_agents_transcripts_exports(app, client, auth, history):
    auth.login("admin@example.com")
    page = f"/dialogs?agents={history.id}&date_from=2026-02-01&date_to=2026-03-31"
    with mail.record_messages() as outbox:
        client.post("/dialogs/export", data={"agents": history.id, "date_from": "2026-02-01", "date_to": "2026-03-31",
                                             "csrf_token": csrf_token(client, page)})
    (item,) = ExportItem.select()
    assert item.state == "sent" and os.path.isdir(os.path.join(app.config["REPORTS_DIR"], str(item.id)))
    with app.app_context():
        erasure.erase_dialog(history, "old-0")
    assert ExportItem.get_by_id(item.id).state == "expired"
    assert not os.path.exists(os.path.join(app.config["REPORTS_DIR"], str(item.id)))
    assert len(outbox) == 1 and "you asked for this export on the Dialogs page" in outbox[0].body
    link = re.search(r"http://slotlens\.test(/exports/download/[\w.\-]+)", outbox[0].body).group(1)
    withdrawn = client.get(link)
    page = withdrawn.get_data(as_text=True)
    assert withdrawn.status_code == 410 and "The transcripts for <strong>Support Bot</strong>" in page
    assert "can no longer be downloaded" in page and "was available until" not in page


# Who read what ------------------------------------------------------------------------


def test_reading_and_exporting_transcripts_is_recorded_for_admins_only(app, client, auth, history, people):
    auth.login("analyst@example.com")
    old = Dialog.get(Dialog.external_id == "old-4")
    client.get(f"/dialogs/{old.id}")
    page = f"/dialogs?agents={history.id}&date_from=2026-03-01&date_to=2026-03-31&stop_slot=answer"
    client.post("/dialogs/export", data={"agents": history.id, "date_from": "2026-03-01", "date_to": "2026-03-31",
                                         "stop_slot": "answer", "csrf_token": csrf_token(client, page)})
    entries = list(AuditEntry.select().order_by(AuditEntry.id))
    assert [(e.account_email, e.agent_name, e.action, e.dialog_id, e.address) for e in entries] == [
        ("analyst@example.com", "Support Bot", "transcript", old.id, "127.0.0.1"),
        ("analyst@example.com", "Support Bot", "export", None, "127.0.0.1")]
    assert "stop_slot=answer" in entries[1].filters and "date_from=2026-03-01" in entries[1].filters
    assert client.get("/admin/audit").status_code == 403, "analysts cannot read it"

    auth.login("admin@example.com")
    html = client.get("/admin/audit").get_data(as_text=True)
    assert html.index("Asked for transcripts") < html.index("Read the transcript of <code>old-4</code>"), "newest first"
    analyst = Account.get(Account.email == "analyst@example.com")
    assert "old-4" in client.get(f"/admin/audit?account={analyst.id}&agent={history.id}").get_data(as_text=True)
    assert "old-4" not in client.get(f"/admin/audit?agent={people['sales'].id}").get_data(as_text=True)
    assert client.post("/admin/audit").status_code == 405, "nothing in the app changes or deletes an entry"
    words = re.sub(r"<[^>]+>", "", html)
    assert "Asked for transcripts: dialogs that stopped at" in words and "2026-03-01 – 2026-03-31 · all channels" in words
    assert "stop_slot=" not in html, "in words, not as a query string"
    AuditEntry.create(account=analyst.id, account_email=analyst.email, agent=history.id, agent_name=history.name, action="export",
                      filters="Send again of request #7", address="127.0.0.1")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    russian = re.sub(r"<[^>]+>", "", client.get("/admin/audit").get_data(as_text=True))
    assert "Запросил(а) переписки: повторная отправка запроса № 7" in russian, "an entry stored in English, said in Russian"
    assert "Запросил(а) переписки: диалоги со стоп-слотом" in russian and "01.03.2026 – 31.03.2026 · все каналы" in russian


def test_an_erased_dialogs_id_is_redacted_however_the_path_is_written():
    from webguard.redaction import redact

    for path in ("/api/v1/dialogs/+79123456789", "/api/v1//dialogs/+79123456789", "/api/v1/dialog%73/+79123456789?x=1"):
        line = f'127.0.0.1 - - "DELETE {path} HTTP/1.1" 404'
        assert "79123456789" not in redact(line) and "<dialog_id>" in redact(line)
    assert redact("POST /api/v1/events HTTP/1.1") == "POST /api/v1/events HTTP/1.1"
