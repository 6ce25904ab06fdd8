"""The export flow in one process (Huey immediate mode, Flask-Mail recording):
filters -> request -> one email per agent -> download link rules -> clean-up.
The same flow with real processes is in test_end_to_end.py."""
import csv
import io
import os
import re
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from peewee import ProgrammingError

from database import db
from export_queue import delivery, intake, links, upkeep
from export_queue.failures import FailureKind
from extensions import mail
from ingest import rules, writer
from models import Account, ExportItem, ExportRequest, Grant, utcnow
from reporting import periods
from tests.conftest import app_config, create_app, fresh_schema

TODAY = date.today()


def seed_dialogs(agent, n, slot="greet", channel="web", day=None):
    when = datetime.combine(day or TODAY, datetime.min.time()) + timedelta(hours=12)
    events = [rules.EventIn(f"{agent.slug}-{slot}-{i}", channel, "user", slot, "hi", when) for i in range(n)]
    writer.ingest_events(agent, events)


@pytest.fixture
def data(app, people):
    with app.app_context():
        writer.upsert_slots(people["support"], [rules.SlotIn("greet", "Greeting", "message", "Hi,\nthere")])
        seed_dialogs(people["support"], 3)
        seed_dialogs(people["support"], 1, slot="bye")
    return people


def export_form(*agents, date_from=TODAY, date_to=TODAY, channels=()):
    return {
        "agents": [a.id for a in agents],
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "channels": list(channels),
        "action": "export",
    }


def fetch(client, path):
    """GET and close the response (a file download holds the file open until closed)."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response


def link_path(message):
    match = re.search(r"http://slotlens\.test(/exports/download/[\w.\-]+)", message.body)
    assert match, message.body
    return match.group(1)


def test_one_email_per_agent_with_a_working_link(app, client, auth, data):
    auth.login("admin@example.com")
    with mail.record_messages() as outbox:
        response = auth.post("/analytics", export_form(data["support"], data["sales"]))
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "The Stop slots report will be sent to admin@example.com, one email per agent (2 emails)." in page
    assert 'Follow it, or download it once built, on <a href="/exports">Exports</a>.' in page

    assert sorted(m.subject for m in outbox) == [
        f"Stop slots report: Sales Bot, {TODAY} \u2013 {TODAY}",
        f"Stop slots report: Support Bot, {TODAY} \u2013 {TODAY}",
    ]
    support_mail = next(m for m in outbox if "Support Bot" in m.subject)
    sales_mail = next(m for m in outbox if "Sales Bot" in m.subject)
    assert support_mail.recipients == ["admin@example.com"]
    assert {m.msgId for m in outbox} == {"<slotlens.item-1@slotlens.test>", "<slotlens.item-2@slotlens.test>"}
    assert "The report covers 4 counted dialogs." in support_mail.body
    assert "The report is empty" in sales_mail.body
    for message in outbox:
        assert "The link works until" in message.body and "UTC" in message.body
        assert "Data as of" in message.body and "Channels: all channels" in message.body
        assert link_path(message) in message.html
        assert max(len(line) for line in message.html.splitlines()) < 998

    response = fetch(client, link_path(support_mail))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=stop-slots_support-bot_{TODAY}_{TODAY}.csv"
    )
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert rows[1] == ["greet", "Greeting", "message", "Hi,\nthere", "3", "75.00"]
    assert rows[2] == ["bye", "bye", "unknown", "", "1", "25.00"]
    empty = fetch(client, link_path(sales_mail))
    assert empty.data.decode("utf-8-sig") == "Slot ID,Slot name,Slot type,Bot text,Dialogs,Share (%)\r\n"

    exports_page = client.get("/exports").get_data(as_text=True)
    assert exports_page.count(">CSV<") == exports_page.count(">Excel<") == 2 and "Sent" in exports_page


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(agents=[]), "Pick at least one agent."),
        (dict(agents=[""]), "Pick at least one agent."),
        (dict(agents=["not-an-id"]), "An agent picked is not one you can see: pick from the list."),
        (dict(date_from="2026-03-05", date_to="2026-03-01"), "To must be on or after From."),
        (dict(date_from="not-a-date"), "Not a valid date value."),
        (dict(date_to=""), "Pick an end date."),
        (dict(channels=["no-such-channel"]), "is not a valid choice"),
        (dict(date_to="9999-12-31"), "Pick a date between 1970-01-01 and 2100-12-31."),
        (dict(date_from="0001-01-01"), "Pick a date between 1970-01-01 and 2100-12-31."),
    ],
)
def test_bad_filters_show_what_is_wrong_and_queue_nothing(app, client, auth, data, change, message):
    app.config["TIMEZONE"] = "Asia/Tokyo"  # east of UTC: 0001-01-01 local is before year 1 in UTC
    auth.login("admin@example.com")
    with mail.record_messages() as outbox:
        response = auth.post("/analytics", {**export_form(data["support"]), **change})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page and "Invalid choice" not in page and "could not be coerced" not in page
    assert page.count('<span class="error">') == 1, "one message: what is wrong"
    assert outbox == []
    with app.app_context():
        assert ExportRequest.select().count() == 0


def test_an_agent_not_granted_cannot_be_exported_by_editing_the_form(app, client, auth, data):
    auth.login("analyst@example.com")
    response = auth.post("/analytics", export_form(data["sales"]))
    assert response.status_code == 200 and "An agent picked is not one you can see" in response.get_data(as_text=True)
    with app.app_context():
        assert ExportRequest.select().count() == 0


def test_preview_shows_counts_and_chart(client, auth, data):
    auth.login("analyst@example.com")
    page = client.get("/analytics", query_string=export_form(data["support"])).get_data(as_text=True)
    assert "4 counted dialogs" in page and '<ol class="chart"' in page and "Greeting" in page


def test_show_and_an_export_come_back_to_the_same_view_focus_and_filters(client, auth, data):
    """Without JavaScript, Show gives the view an address of its own; an export comes back to it."""
    auth.login("analyst@example.com")
    place = {**export_form(data["support"]), "view": "slot-paths", "focus": f"{data['support'].id}:greet", "compare": "previous"}
    for action in ("preview", "export:slot-paths"):
        response = auth.post("/analytics", {**place, "action": action})
        assert response.status_code == 302, action
        assert parse_qs(urlsplit(response.location).query) == {
            "agents": [str(data["support"].id)], "date_from": [TODAY.isoformat()], "date_to": [TODAY.isoformat()],
            "view": ["slot-paths"], "focus": [f"{data['support'].id}:greet"], "compare": ["previous"]}, action
    page = client.get(response.location).get_data(as_text=True)
    assert f'<option value="{data["support"].id}:greet" selected>' in page


def test_the_paths_focus_is_where_dialogs_were_lost_not_the_scripts_end(app, client, auth, people):
    """Without outcome rules, the slot that never leads on (a thank-you) is the natural end: its
    many stops are no loss. The default focus is the slot other dialogs went on from."""
    when = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=12)
    with app.app_context():
        events = []
        for i in range(6):  # six reach the end of the script, two leave at the question
            events += [rules.EventIn(f"done-{i}", "web", "user", "ask", "hi", when), rules.EventIn(f"done-{i}", "web", "bot", "thanks", None, when + timedelta(minutes=1))]
        events += [rules.EventIn(f"left-{i}", "web", "user", "ask", "hi", when) for i in range(2)]
        writer.ingest_events(people["support"], events)
    auth.login("analyst@example.com")
    page = client.get(f"/analytics?agents={people['support'].id}&view=slot-paths").get_data(as_text=True)
    assert f'<option value="{people["support"].id}:ask" selected>' in page


def sent_link(auth, data, email="analyst@example.com"):
    auth.login(email)
    with mail.record_messages() as outbox:
        auth.post("/analytics", export_form(data["support"]))
    (message,) = outbox
    return link_path(message)


def test_link_needs_login_then_continues_to_the_file(client, auth, data):
    path = sent_link(auth, data)
    client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', client.get("/exports").get_data(as_text=True)).group(1)})
    response = client.get(path)
    assert response.status_code == 302 and response.location.startswith("/login?next=/exports/download/")
    from tests.conftest import PASSWORD, csrf_token

    token = csrf_token(client, response.location)
    response = client.post(response.location, data={"email": "analyst@example.com", "password": PASSWORD, "csrf_token": token})
    assert response.location == path
    assert fetch(client, path).status_code == 200


def test_link_is_only_for_the_account_it_was_sent_to_who_may_get_their_own(app, client, auth, data):
    """A forwarded link says whose report it is and offers the same report to a colleague who may see the agent."""
    path = sent_link(auth, data)
    auth.login("nobody@example.com")
    page = client.get(path).get_data(as_text=True)
    assert "sent to another account" in page and "no access to this report's agent" in page and "Support Bot" not in page.split("<main")[1]
    assert auth.post(path + "/for-me", {}, form_page="/exports").status_code == 404
    auth.login("admin@example.com")
    response = client.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "The link is analyst@example.com's" in page and "Get this report for yourself" in page
    with mail.record_messages() as outbox:
        assert auth.post(path + "/for-me", {}, form_page="/exports").status_code == 302
    (message,) = outbox
    assert message.recipients == ["admin@example.com"]
    with app.app_context():
        theirs, own = ExportRequest.select().order_by(ExportRequest.id)
        assert own.account.email == "admin@example.com" and (own.kind, own.date_from, own.date_to, own.channels, [i.agent_id for i in own.items]) == (
            theirs.kind, theirs.date_from, theirs.date_to, theirs.channels, [i.agent_id for i in theirs.items])
    assert fetch(client, link_path(message)).status_code == 200


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), lambda t: "x" + t, lambda t: "..%2F..%2Fetc%2Fpasswd"])
def test_tampered_or_unknown_token_is_404(client, auth, data, mangle):
    path = sent_link(auth, data)
    token = path.rsplit("/", 1)[1]
    assert client.get(f"/exports/download/{mangle(token)}").status_code == 404


def test_expired_link_is_410_with_request_again_and_the_file_is_deleted(app, client, auth, data):
    path = sent_link(auth, data)
    with app.app_context():
        item = ExportItem.get()
        file_path = links.report_path(item)
        ExportItem.update(expires_at=utcnow() - timedelta(seconds=1)).execute()
    response = client.get(path)
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "This link has expired" in page and "Request again" in page
    with app.app_context():
        assert upkeep.expire_links() == 1
        assert ExportItem.get().state == "expired"
    assert not __import__("os").path.exists(file_path)
    assert client.get(path).status_code == 410

    with mail.record_messages() as outbox:
        response = auth.post(f"/exports/{item.request_id}/again", {"agent": item.agent_id}, form_page="/exports")
    assert response.status_code == 302 and len(outbox) == 1
    assert fetch(client, link_path(outbox[0])).status_code == 200


def test_send_again_is_refused_for_someone_elses_request(app, client, auth, data):
    sent_link(auth, data)
    auth.login("nobody@example.com")
    with app.app_context():
        request_id = ExportRequest.get().id
    assert auth.post(f"/exports/{request_id}/again", {}, form_page="/exports").status_code == 404


def test_revoked_access_fails_the_item_with_a_reason(app, people):
    with app.app_context():
        analyst = Account.get(Account.email == "analyst@example.com")
        filters = periods.Filters((people["support"].id,), TODAY, TODAY)
        outcome = intake.request_export(analyst, filters, max_pending=10)
        Grant.delete().execute()
        delivery.process_item(outcome.request.items[0].id)
        item = ExportItem.get()
        assert item.state == "failed" and "no longer has access" in item.error


@pytest.fixture
def queued_app(tmp_path, database_url):
    """An app whose queue is real (SQLite) and has no worker: requests stay queued."""
    app = create_app(
        app_config(tmp_path, database_url, QUEUE_IMMEDIATE=False, EXPORT_MAX_PENDING=2),
        instance_path=str(tmp_path / "instance"),
    )
    with app.app_context():
        fresh_schema(database_url)
    return app


def test_identical_requests_are_queued_once_and_pending_requests_are_capped(queued_app):
    from tests.conftest import Auth, make_account, make_agent

    client = queued_app.test_client()
    auth = Auth(client)
    with queued_app.app_context():
        agent = make_agent("Support Bot")[0]
        make_account("admin@example.com", is_admin=True)
    auth.login()
    first = auth.post("/analytics", export_form(agent))
    again = auth.post("/analytics", export_form(agent))
    assert "already on its way" in client.get(again.location).get_data(as_text=True)
    auth.post("/analytics", export_form(agent, date_from=TODAY - timedelta(days=1)))
    too_many = auth.post("/analytics", export_form(agent, date_from=TODAY - timedelta(days=2)))
    assert "You already have 2 exports waiting" in client.get(too_many.location).get_data(as_text=True)
    assert first.status_code == 302
    with queued_app.app_context():
        assert ExportRequest.select().count() == 2
        assert len(queued_app.extensions["huey"]) == 2  # two messages on the queue
        page = client.get("/exports").get_data(as_text=True)
        assert "Queued (position 1)" in page and "Queued (position 2)" in page


@pytest.mark.parametrize(
    "name, slug",
    [("Support Bot", "support-bot"), ("Бот доставки", "бот-доставки"), ("A/B: test__bot!", "a-b-test-bot"), ("***", "agent")],
)
def test_agent_slugs_make_readable_file_names(app, name, slug):
    with app.app_context():
        from tests.conftest import make_agent

        assert make_agent(name)[0].slug == slug
        assert make_agent(name + " ")[0].slug == f"{slug}-2"


def test_non_latin_file_name_reaches_the_browser(app, client, auth, people):
    from tests.conftest import make_agent

    with app.app_context():
        agent = make_agent("Бот доставки")[0]
    auth.login("admin@example.com")
    with mail.record_messages() as outbox:
        auth.post("/analytics", export_form(agent))
    response = fetch(client, link_path(outbox[0]))
    assert "filename*=UTF-8''stop-slots_%D0%B1%D0%BE%D1%82-" in response.headers["Content-Disposition"]


def test_an_export_may_name_many_channels(app, client, auth, data):
    channels = [f"channel-with-a-long-name-{n:02d}" for n in range(30)]
    with app.app_context():
        for channel in channels:
            seed_dialogs(data["support"], 1, slot=channel, channel=channel)
    auth.login("admin@example.com")
    with mail.record_messages() as outbox:
        response = auth.post("/analytics", export_form(data["support"], channels=channels))
    assert response.status_code == 302 and len(outbox) == 1
    assert "The report covers 30 counted dialogs." in outbox[0].body


@pytest.mark.parametrize(
    "kind, subject, header, sentence",
    [
        ("slot-funnel", "Slot funnel report", "Slot ID,Slot name,Slot type,Bot text,Reached,Times shown,Stopped,Exit rate (%),Reach (%)",
         "Exit rate = dialogs that stopped at a slot"),
        ("slot-paths", "Slot paths report", "From slot ID,From slot name,To slot ID,To slot name,Dialogs,Transitions,Share of from (%)",
         "share of from = its transitions"),
    ],
)
def test_each_report_kind_goes_through_the_same_pipeline(app, client, auth, data, kind, subject, header, sentence):
    auth.login("admin@example.com")
    form = {**export_form(data["support"]), "action": f"export:{kind}"}
    with mail.record_messages() as outbox:
        response = auth.post("/analytics", form)
        again = auth.post("/analytics", {**export_form(data["support"]), "action": "export"})
    assert response.status_code == again.status_code == 302
    assert sorted(m.subject.split(":")[0] for m in outbox) == sorted([subject, "Stop slots report"]), "one per kind"
    (message,) = [m for m in outbox if m.subject.startswith(subject)]
    assert message.subject == f"{subject}: Support Bot, {TODAY} \u2013 {TODAY}" and sentence in message.body
    download = fetch(client, link_path(message))
    assert download.headers["Content-Disposition"] == f"attachment; filename={kind}_support-bot_{TODAY}_{TODAY}.csv"
    assert download.data.decode("utf-8-sig").split("\r\n")[0] == header
    page = client.get("/exports").get_data(as_text=True)
    label = subject.removesuffix(" report")
    assert f"{label} · request #" in page and "Stop slots · request #" in page


def test_an_unknown_report_kind_is_refused(app, client, auth, data):
    auth.login("admin@example.com")
    response = auth.post("/analytics", {**export_form(data["support"]), "action": "export:everything"})
    assert response.status_code == 400 and "There is no report called" in response.get_data(as_text=True)
    with app.app_context():
        assert ExportRequest.select().count() == 0


@pytest.mark.parametrize("query, shown", [("?agents=1", "Support Bot"), ("?view=slot-funnel", "Slot funnel preview")])
def test_a_link_with_some_filters_uses_the_default_period(client, auth, people, query, shown):
    auth.login("admin@example.com")
    page = client.get("/analytics" + query).get_data(as_text=True)
    assert "Fix the filters" not in page and "Pick a start date" not in page and shown in page


def test_the_other_slots_bar_stays_on_the_chart(app, client, auth, people):
    """Eleven slots of 3 dialogs: the top ten are shown, "Other slots (1)" has 3 too;
    with 14 slots it has 12, more than the top bar, and must still fit the scale."""
    with app.app_context():
        for n in range(14):
            seed_dialogs(people["support"], 3, slot=f"slot-{n:02d}")
    auth.login("analyst@example.com")
    page = client.get("/analytics", query_string=export_form(people["support"])).get_data(as_text=True)
    widths = [float(w) for w in re.findall(r'<span style="width: ([\d.]+)%"></span>', page)]
    assert "Other slots (4)" in page and len(widths) == 11
    assert widths[-1] == max(widths) == 100.0 and widths[0] == 25.0


def test_a_report_waiting_for_the_mail_server_downloads_and_the_page_says_why_in_words(app, client, auth, data, monkeypatch):
    def unreachable(message):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(delivery, "hand_over", unreachable)
    with app.app_context():
        for email in ("analyst@example.com", "admin@example.com"):
            account = Account.get(Account.email == email)
            outcome = intake.request_export(account, periods.Filters((data["support"].id,), TODAY, TODAY), max_pending=10)
            delivery.process_item(outcome.request.items[0].id)
        assert [(i.state, i.error.split(":")[0]) for i in ExportItem.select()] == [
            ("queued", "The mail server could not be reached")] * 2, "built, the email waiting for a retry"

    auth.login("analyst@example.com")
    page = fetch(client, "/exports").get_data(as_text=True)
    assert "Not sent yet: We could not reach the mail server. We will try again at" in page
    assert "You can download the report now." in page
    assert "Connection refused" not in page and "Technical detail" not in page, "the technical detail is for admins"
    download = fetch(client, re.search(r'href="(/exports/download/[^"]+)"', page).group(1))
    assert download.status_code == 200 and download.get_data(as_text=True).startswith("\ufeffSlot ID,")

    auth.login("admin@example.com")
    page = fetch(client, "/exports").get_data(as_text=True)
    assert "Technical detail" in page and "Connection refused" in page
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    recorded = "Причины — в том виде, в каком их записал обработчик, по-английски; ответ почтового сервера — дословно."
    page = fetch(client, "/exports").get_data(as_text=True)
    assert "Технические подробности" in page and recorded in page, "a Russian page says the admin's detail stays as recorded"
    assert "The mail server could not be reached: [Errno 111] Connection refused" in page
    queue = client.get("/admin/queue").get_data(as_text=True)
    assert "повтор: The mail server could not be reached: [Errno 111] Connection refused" in queue and recorded in queue


@pytest.mark.parametrize("kind, words", [
    (delivery.mail_failure(ConnectionRefusedError(111, "Connection refused")).kind, "We could not reach the mail server."),
    (delivery.mail_failure(delivery.smtplib.SMTPResponseException(451, b"4.3.0 Try later")).kind,
     "The mail server did not take the email for now."),
    (delivery.mail_failure(delivery.smtplib.SMTPResponseException(554, b"5.6.0 Message rejected")).kind,
     "The mail server rejected the email."),
    (delivery.mail_failure(delivery.smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"5.1.1 No such user")})).kind,
     "The mail server refused your email address."),
    (delivery.build_failure("/srv/reports/7")(OSError(28, "No space left on device")).kind,
     "The report file could not be saved on the server."),
    (FailureKind.NO_ACCESS, "You no longer have access to this agent."),
    (FailureKind.DATABASE_UNREACHABLE, "The server could not reach its database."),
    (delivery.database_failure(ProgrammingError("column account.csv_separator does not exist")).kind,
     "The server's database refused this report; an admin must look into it."),
    (FailureKind.SENT_NOT_RECORDED, "The email was sent, but the server could not record it; an admin must look into it."),
    (delivery.mail_failure(KeyError("x")).kind, "Something went wrong on the server."),
    (None, "Something went wrong on the server."),
])
def test_each_kind_of_failure_the_worker_records_has_words_for_people(kind, words):
    from export_queue import wording

    assert wording.problem(kind) == words


def test_items_that_failed_before_version_19_keep_their_words(app, runner, people):
    """Before version 19 the page read the first words of the reason; upgrading gives
    each item the kind those words meant, so the page says what it said."""
    from playhouse.migrate import SchemaMigrator, migrate

    from database import migrations
    from export_queue import wording

    before = {
        "The mail server could not be reached: [Errno 111] Connection refused": "We could not reach the mail server.",
        "The mail server answered 451: 4.3.0 Try later": "The mail server did not take the email for now.",
        "The mail server answered 554: 5.6.0 Message rejected (gave up after 60 min of retries)": "The mail server rejected the email.",
        "The mail server answered -1: garbled": "Something went wrong on the server.",
        "The mail server refused the recipient (550: 5.1.1 No such user)": "The mail server refused your email address.",
        "The report could not be written to /srv/reports/7: No space left on device": "The report file could not be saved on the server.",
        "This account no longer has access to this agent.": "You no longer have access to this agent.",
        "The database could not be reached or was busy: database is locked": "The server could not reach its database.",
        "The database refused this step (ProgrammingError); the worker's log has the details.":
            "The server's database refused this report; an admin must look into it.",
        "The email was sent, but recording it failed: The database refused this step (IntegrityError); the worker's log has the details.":
            "The email was sent, but the server could not record it; an admin must look into it.",
        "KeyError: 'x'": "Something went wrong on the server.",
    }
    with app.app_context():
        analyst = Account.get(Account.email == "analyst@example.com")
        request = ExportRequest.create(account=analyst, date_from=TODAY, date_to=TODAY, filters_key="k")
        for error in before:
            ExportItem.create(request=request, agent=people["support"], state="failed", error=error)
        ExportItem.create(request=request, agent=people["support"], state="queued", error="The mail server answered 421: busy")
        ExportItem.create(request=request, agent=people["support"], state="skipped",
                          error="Empty, and its subscription skips empty reports: no email.")
        migrate(SchemaMigrator.from_database(db.obj).drop_column("export_item", "error_kind"))
        migrations.SchemaVersion.update(version=18).execute()

    assert runner.invoke(args=["upgrade-db"]).exit_code == 0

    with app.app_context():
        assert migrations.current_version() == migrations.LATEST
        items = list(ExportItem.select().order_by(ExportItem.id))
        assert {item.error: wording.problem(item.error_kind) for item in items[:-2]} == before
        assert items[-2].is_retrying and items[-2].error_kind == FailureKind.MAIL_DEFERRED
        assert items[-1].error_kind is None, "a skipped item did not fail"


@pytest.mark.parametrize("kind", ["stop-slots", "slot-funnel", "slot-paths"])
def test_the_email_and_exports_offer_the_report_for_excel_too(app, client, auth, data, kind):
    import openpyxl

    auth.login("admin@example.com")
    with mail.record_messages() as outbox:
        auth.post("/analytics", {**export_form(data["support"]), "action": f"export:{kind}"})
    (message,) = outbox
    csv_link = link_path(message)
    assert f"http://slotlens.test{csv_link}/xlsx" in message.body and f"{csv_link}/xlsx" in message.html
    page = client.get("/exports").get_data(as_text=True)
    assert f'href="{csv_link}/xlsx"' in page and "Download for Excel: Support Bot" in page
    workbook = fetch(client, csv_link + "/xlsx")
    assert workbook.headers["Content-Disposition"] == f"attachment; filename={kind}_support-bot_{TODAY}_{TODAY}.xlsx"
    written = list(csv.reader(io.StringIO(fetch(client, csv_link).data.decode("utf-8-sig"), newline="")))
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.data)).active
    typed = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert len(typed) == len(written) > 1
    for row, in_csv in zip(typed, written):
        assert [str(v if v is not None else "") if not isinstance(v, float) else f"{v:g}" for v in row] == [
            f"{float(t):g}" if isinstance(v, float) else t for v, t in zip(row, in_csv)
        ]


def test_an_account_may_choose_semicolons_and_decimal_commas_for_excel(app, client, auth, data):
    auth.login("analyst@example.com")
    refused = auth.post("/account/files", {"csv_separator": "|"}, form_page="/account/password")
    assert refused.status_code == 400 and "Not a valid choice" in refused.get_data(as_text=True)
    saved = auth.post("/account/files", {"csv_separator": ";"}, form_page="/account/password")
    assert saved.status_code == 302
    assert '<input checked id="csv_separator-1"' in client.get("/account/password").get_data(as_text=True)
    with mail.record_messages() as outbox:
        auth.post("/analytics", export_form(data["support"]))
    (message,) = outbox
    lines = fetch(client, link_path(message)).data.decode("utf-8-sig").split("\r\n")
    assert lines == ["Slot ID;Slot name;Slot type;Bot text;Dialogs;Share (%)", 'greet;Greeting;message;"Hi,\nthere";3;75,00',
                     "bye;bye;unknown;;1;25,00", ""]


def test_a_report_built_before_workbooks_existed_is_built_again_with_both(app, data, monkeypatch):
    """An item built by an older version (its CSV only) and still waiting for its email."""
    def unreachable(message):
        raise ConnectionRefusedError(111, "Connection refused")

    with app.app_context():
        account = Account.get(Account.email == "analyst@example.com")
        item_id = intake.request_export(account, periods.Filters((data["support"].id,), TODAY, TODAY), max_pending=10).request.items[0].id
        with monkeypatch.context() as patched:
            patched.setattr(delivery, "hand_over", unreachable)
            delivery.process_item(item_id)
        item = ExportItem.get_by_id(item_id)
        os.remove(links.report_path(item, "xlsx"))
        ExportItem.update(not_before=utcnow()).execute()
        with mail.record_messages() as outbox:
            delivery.process_item(item_id)
        assert len(outbox) == 1 and ExportItem.get_by_id(item_id).state == "sent"
        assert os.path.exists(links.report_path(item, "xlsx")) and os.path.exists(links.report_path(item))
