"""Emails in their recipient's language (SPEC "Languages"): the report, alert and
password-link emails, subject and plain and HTML bodies, in Russian to an account
that chose Russian and in English to one that chose English, whatever browser asked
for them, and also when the worker or the sweep builds them outside any request.
Numbers and dates follow the language; file names and CSV column names do not."""
import csv
import email
import email.policy
import io
import json
import re
from datetime import date, datetime, timedelta

import pytest
from flask_babel import force_locale

from access import password_links, tokens
from export_queue.delivery import process_item
from extensions import Message, mail
from ingest import rules, writer
from models import Account, Subscription
from reporting import files, kinds
from subscriptions.sweep import deliver_due
from tests.conftest import csrf_token
from tests.test_alerts import DUE as ALERT_DUE, TZ, make_alert, shop_bot, sweep  # noqa: F401 - shop_bot is a fixture
from tests.test_exports import export_form, fetch, link_path
from tests.test_transcripts_export import analyst, download, export  # noqa: F401 - analyst is a fixture

NBSP = "\u00a0"
TODAY = date.today()
RU_TODAY = TODAY.strftime("%d.%m.%Y")


def speaks(email, language):
    with_account = Account.get(Account.email == email)
    with_account.language = language
    with_account.save()


def english_left(text, words):
    return [word for word in words if word in text]


@pytest.fixture
def lots(app, people):
    """1,234 dialogs of Support Bot today, all stopping at Greeting."""
    with app.app_context():
        writer.upsert_slots(people["support"], [rules.SlotIn("greet", "Greeting", "message", "Hi")])
        noon = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=12)
        writer.ingest_events(people["support"], [rules.EventIn(f"d-{n}", "web", "user", "greet", "hi", noon) for n in range(1234)])
    return people


REPORT_ENGLISH = ["Download", "The link works", "Filters", "Channels", "all channels", "counted dialog", "Data as of",
                  "you asked for", "Stop slots report", "Agent", "Period", "by dialog start", "workbook", "Excel, the same"]


def report_email(app, client, auth, lots, browser, recipient_language):
    """The report email an analyst whose emails speak `recipient_language` asks for from a `browser`-language page."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = browser
    auth.login("analyst@example.com")
    with app.app_context():
        speaks("analyst@example.com", recipient_language)
    with mail.record_messages() as outbox:
        assert auth.post("/analytics", export_form(lots["support"])).status_code == 302
    (message,) = outbox
    return message


def test_a_russian_accounts_report_email_is_in_russian_and_its_file_keeps_its_names(app, client, auth, lots):
    message = report_email(app, client, auth, lots, browser="en", recipient_language="ru")  # the recipient decides
    assert message.subject == f"Отчёт «Стоп-слоты»: Support Bot, {RU_TODAY} \u2013 {RU_TODAY}"
    body, html = message.body, message.html
    assert f"В отчёте 1{NBSP}234 учтённых диалога." in body, "numbers as Russian writes them"
    assert "Скачать CSV:" in body and "Ссылка действует до " in body and " и только для analyst@example.com." in body
    assert "Фильтры\n  Агент:  Support Bot\n" in body and f"  Период: {RU_TODAY} – {RU_TODAY} (UTC, по началу диалога)" in body
    assert "  Каналы: все каналы\n" in body and "Данные на " in body and "вы запросили этот отчёт на вкладке «Аналитика»" in body
    assert re.search(r"Ссылка действует до \d\d\.\d\d\.\d{4} \d\d:\d\d UTC", body), "dates as Russian writes them"
    assert "Каждый учтённый диалог" in body
    assert not english_left(body, REPORT_ENGLISH), english_left(body, REPORT_ENGLISH)
    assert '<html lang="ru">' in html and f"В отчёте <strong>1{NBSP}234</strong> учтённых диалога." in html
    assert ">\nСкачать CSV</a>" in html and "<td>все каналы</td>" in html
    assert not english_left(html, REPORT_ENGLISH), english_left(html, REPORT_ENGLISH)

    download = fetch(client, link_path(message))
    assert download.headers["Content-Disposition"] == f"attachment; filename=stop-slots_support-bot_{TODAY}_{TODAY}.csv"
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["Slot ID", "Slot name", "Slot type", "Bot text", "Dialogs", "Share (%)"] and rows[1][4:] == ["1234", "100.00"]


def test_an_english_accounts_report_email_stays_english_even_asked_from_a_russian_browser(app, client, auth, lots):
    message = report_email(app, client, auth, lots, browser="ru", recipient_language="en")
    assert message.subject == f"Stop slots report: Support Bot, {TODAY} \u2013 {TODAY}"
    assert "The report covers 1,234 counted dialogs." in message.body and "Channels: all channels" in message.body
    assert '<html lang="en">' in message.html and "Download the CSV</a>" in message.html
    assert not re.search("[а-яА-Я]", message.body + message.html)


def test_a_transcripts_email_without_a_workbook_in_russian(app, client, analyst, monkeypatch):  # noqa: F811
    monkeypatch.setattr(files, "XLSX_MAX_ROWS", 5)
    with app.app_context():
        speaks("analyst@example.com", "ru")
    with mail.record_messages() as outbox:
        export(client, analyst, stop_slot="ask_order")
    (message,) = outbox
    assert message.subject == "Переписки: Support Bot, 10.03.2026 \u2013 10.03.2026"
    body = message.body
    assert body.startswith("Переписки: Support Bot, 10.03.2026 – 10.03.2026\n\nОдна строка на событие: ")
    assert re.search(r"\nПереписки: .+ \(всего 3\)\.\n", body) and "\n  Диалоги: " in body
    assert "На этот раз без книги (.xlsx): в выгрузке больше 5 строк" in body and "/xlsx" not in body
    assert "Slotlens · вы запросили эту выгрузку на странице «Диалоги»." in body
    assert not english_left(body, REPORT_ENGLISH + ["The transcripts of", "There is no workbook", "export on the Dialogs page"])
    assert "(всего <strong>3</strong>)." in message.html and "На этот раз без книги" in message.html
    status, _body = download(client, message)
    assert status == 200 and _body.decode("utf-8-sig").startswith(",".join(kinds.KINDS["transcripts"].HEADER))


def test_each_report_kinds_email_texts_have_their_russian(app):
    with app.test_request_context(), force_locale("ru"):
        for kind in kinds.KINDS.values():
            for text in (kind.SUBJECT, kind.EXPLANATION):
                assert re.search("[а-яА-Я]", str(text)), f"no Russian for {text!r}: give it `_l` in reporting/kinds"


ALERT_ENGLISH = ["before", "now ", "change ", "dialogs behind", "Your alert", "sent by your alert", "It stays on",
                 "significant changes only", "Exit rate rose"]


def test_an_alert_email_speaks_its_recipients_language_from_the_sweep(app, shop_bot):  # noqa: F811
    with app.app_context(), mail.record_messages() as outbox:
        make_alert(shop_bot)
        make_alert(shop_bot, email="second@example.com")
        speaks("analyst@example.com", "ru")
        speaks("second@example.com", "en")
        sweep(ALERT_DUE)
    russian = next(m for m in outbox if m.recipients == ["analyst@example.com"])
    english = next(m for m in outbox if m.recipients == ["second@example.com"])
    assert russian.subject.startswith("Доля выхода выросла на слоте Ask order: Shop Bot, ")
    body = russian.body
    assert (f"Shop Bot · Ask order\n  было 25,00{NBSP}%, стало 75,00{NBSP}%, изменение +50,00{NBSP}п.{NBSP}п. (40 диалогов; раньше 40)"
            in body)
    assert "За изменением стоят 30 диалогов: http://slotlens.test/dialogs?" in body
    assert "Ваше оповещение: " in body and "не меньше 30 диалогов в каждом периоде, только значимые изменения; проверяется " in body
    assert "Slotlens · отправлено вашим оповещением. Оно действует, пока вы его не приостановите или не удалите:" in body
    assert not english_left(body, ALERT_ENGLISH), english_left(body, ALERT_ENGLISH)
    html = russian.html
    assert '<html lang="ru">' in html and ">Было</th>" in html and ">За изменением</th>" in html and ">30 диалогов</a>" in html
    assert f">25,00{NBSP}%</td>" in html and "(раньше 40)" in html
    assert not english_left(html, ALERT_ENGLISH + ["Agent", "Behind it"]), english_left(html, ALERT_ENGLISH)

    assert english.subject == "Exit rate rose at Ask order of Shop Bot, 30 Nov"
    assert "  before 25.00%, now 75.00%, change +50.00 pp (40 dialogs; 40 before)" in english.body
    assert not re.search("[а-яА-Я]", english.body + english.html)


def test_the_password_link_email_is_in_its_accounts_language_whatever_browser_asked(app, client, people):
    with app.app_context():
        speaks("analyst@example.com", "ru")
    with mail.record_messages() as outbox:
        client.post("/login/forgot", data={"email": "analyst@example.com", "csrf_token": csrf_token(client, "/login/forgot")},
                    headers={"Accept-Language": "en"})
    (message,) = outbox
    assert message.subject == "Сброс пароля Slotlens"
    body = message.body
    assert "Кто-то, вероятно вы, запросил сброс пароля для analyst@example.com в Slotlens (http://slotlens.test)." in body
    assert "Задайте новый пароль:\nhttp://slotlens.test/login/reset/" in body
    assert re.search(r"Ссылка сработает один раз, до \d\d\.\d\d\.\d{4} \d\d:\d\d UTC\.", body)
    assert "Ссылка истекла? Запросите новую: http://slotlens.test/login/forgot" in body
    english_words = ["Someone", "Set a new", "The link works", "If you did not", "Link expired", "Reset your"]
    assert not english_left(body + message.html, english_words), english_left(body + message.html, english_words)
    assert '<html lang="ru">' in message.html and "<title>Сброс пароля Slotlens</title>" in message.html

    with app.app_context():
        invited = Account.create(email="new@example.com", password_hash="-", language="ru")
        joined = password_links.link_email(invited, tokens.INVITATION)
        english = password_links.link_email(Account.get(Account.email == "admin@example.com"), tokens.INVITATION)
    assert joined.subject == "Приглашение в Slotlens" and "Задайте пароль, чтобы присоединиться:" in joined.body
    assert english.subject == "You are invited to Slotlens" and "Set your password to join:" in english.body
    assert not re.search("[а-яА-Я]", english.body + english.html), "an account that never chose gets English"


def test_a_reset_asked_for_an_account_without_a_language_speaks_the_asking_browsers(app, client, people):
    """An invited account that never logged in has no language yet: the page that asked
    for its reset link decides, as the admin's page decides its invitation's."""
    with app.app_context():
        Account.create(email="invited@example.com", password_hash="-")
    with mail.record_messages() as outbox:
        client.post("/login/forgot", data={"email": "invited@example.com", "csrf_token": csrf_token(client, "/login/forgot")},
                    headers={"Accept-Language": "ru"})
    (message,) = outbox
    assert message.subject == "Сброс пароля Slotlens"


def test_an_invitation_speaks_the_language_of_the_admin_who_sent_it(app, client, auth, people):
    """The invited account has no language yet: its invitation is in the inviting admin's,
    and the account still follows its own browser once it logs in."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    auth.login("admin@example.com")
    with mail.record_messages() as outbox:
        auth.post("/admin/accounts", {"email": "new@example.com"}, form_page="/admin/")
    (message,) = outbox
    assert message.subject == "Приглашение в Slotlens" and "Задайте пароль, чтобы присоединиться:" in message.body
    with app.app_context():
        invited = Account.get(Account.email == "new@example.com")
        assert (invited.language, invited.browser_language) == ("", ""), "nothing chosen for it"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    with mail.record_messages() as outbox:
        auth.post(f"/admin/accounts/{invited.id}/invite", {}, form_page="/admin/")
    (again,) = outbox
    assert again.subject == "You are invited to Slotlens" and not re.search("[а-яА-Я]", again.body + again.html)


def test_the_sweep_and_the_worker_email_a_scheduled_report_in_the_recipients_language(app, people):
    """No request anywhere: the sweep makes the items, the worker's task (its own app
    context, as Huey runs it) builds and sends them."""
    from tasks import process_export_item

    app.config["TIMEZONE"] = TZ
    noon = datetime(2026, 11, 30, 11, 0)
    with app.app_context():
        analyst = Account.get(Account.email == "analyst@example.com")
        analyst.language = "ru"
        analyst.save()
        writer.upsert_slots(people["support"], [rules.SlotIn(key, f"Slot {key.upper()}", "question", "") for key in "ab"])
        writer.ingest_events(people["support"], [rules.EventIn(f"{key}-{n}", "web", "user", key, "hi", noon)
                                                 for key, count in (("a", 1000), ("b", 300)) for n in range(count)])
        Subscription.create(account=analyst, kinds=json.dumps(["stop-slots", "slot-funnel"]), agents=json.dumps([people["support"].id]),
                            frequency="daily", at="09:00", starts_at=ALERT_DUE - timedelta(hours=1))
        stop_slots, funnel = sorted(deliver_due(ALERT_DUE, TZ, 60), key=lambda item: item.request.kind != "stop-slots")
    with mail.record_messages() as outbox:
        with app.app_context():
            process_item(stop_slots.id)  # the plain function the worker's task calls, in an app context with no request
        process_export_item(funnel.id)  # the task itself, outside any context: it makes its own, as Huey runs it
    message, funnel_message = outbox
    assert funnel_message.subject == "Отчёт «Воронка слотов»: Support Bot, 30.11.2026 \u2013 30.11.2026"
    assert "Начало отчёта, 2 строки:\n  Slot name | Reached | Times shown | Stopped | Exit rate (%) | Reach (%)\n" in funnel_message.body
    assert message.subject == "Отчёт «Стоп-слоты»: Support Bot, 30.11.2026 \u2013 30.11.2026"
    body = message.body
    assert f"В отчёте 1{NBSP}300 учтённых диалогов." in body
    assert (f"Начало отчёта, 2 строки:\n  Slot name | Dialogs | Share (%)\n  Slot A | 1{NBSP}000 | 76,92\n"
            f"  Slot B | 300 | 23,08\n") in body, "column names as in the file; numbers as Russian writes them"
    assert "Сравнение с предыдущим периодом (" in body and "Slotlens · отправлено по вашей подписке: " in body
    assert "Приостановить, изменить или удалить её: http://slotlens.test/subscriptions" in body
    assert not english_left(body, REPORT_ENGLISH + ["Compared with", "sent by your subscription", "The top"])
    assert '<tr lang="en" translate="no">' in message.html and ">Начало отчёта, 2 строки</caption>" in message.html


def test_a_russian_subject_keeps_its_spaces_on_the_wire(app):
    """Folded at 78 characters, Python's email drops the space between two encoded
    words: "Бот доставки" arrived as "Ботдоставки"."""
    subject = "Отчёт «Стоп-слоты»: Бот доставки, 05.11.2026 – 04.12.2026"
    with app.app_context():
        message = Message(subject=subject, recipients=["ivan.petrov@example.com"], body="…", sender="slotlens@example.com")
        assert email.message_from_bytes(message.as_bytes(), policy=email.policy.default)["subject"] == subject

