"""English and Russian (SPEC "Languages"): which one a page and an email speak, plurals
and numbers in Russian, and a catalogue that stays complete as texts change."""
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale

import languages
from languages.formats import ngettext, number, percent
from models import Account
from reporting.localtime import format_local, relative
from app import create_app
from tests.conftest import Auth, app_config, csrf_token, fresh_schema, make_account

ROOT = Path(__file__).resolve().parent.parent
RUSSIAN = ROOT / "translations" / "ru" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The texts the code and templates hold now, extracted as `make messages` does."""
    pot = tmp_path_factory.mktemp("messages") / "messages.pot"
    make = subprocess.run(["make", "-n", "messages"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    extract = next(line for line in make.replace("\\\n", " ").splitlines() if " extract " in line)
    command = extract.replace("translations/messages.pot", str(pot)).replace(".venv/bin/pybabel", f"{sys.executable} -m babel.messages.frontend")
    subprocess.run(command, shell=True, cwd=ROOT, check=True, capture_output=True)
    with open(pot, "rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def russian():
    with open(RUSSIAN, "rb") as f:
        return read_po(f)


def message_key(message):
    return message.id[0] if isinstance(message.id, tuple) else message.id


def forms(message):
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_every_text_of_the_interface_has_a_russian_translation(extracted, russian):
    untranslated = [message_key(m) for m in extracted if m.id and (m.id not in russian or not all(forms(russian[m.id])))]
    assert not untranslated, f"run `make messages` and translate these in {RUSSIAN.relative_to(ROOT)}: {untranslated}"


def test_the_catalogue_holds_no_text_the_code_no_longer_has(extracted, russian):
    stale = [message_key(m) for m in russian if m.id and m.id not in extracted]
    assert not stale, f"run `make messages`: these are gone from the code: {stale}"


def test_no_translation_is_fuzzy_since_compiling_skips_them(russian):
    assert not [message_key(m) for m in russian if m.id and m.fuzzy]


def test_each_translation_keeps_the_placeholders_of_its_english(russian):
    differing = []
    for message in russian:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        differing += [message_key(message) for form in forms(message) if set(PLACEHOLDER.findall(form)) != wanted]
    assert not differing


def test_each_plural_has_the_three_russian_forms(russian):
    assert russian.num_plurals == 3
    assert all(len(m.string) == 3 for m in russian if m.id and isinstance(m.id, tuple))


def test_russian_plurals_numbers_and_times(app):
    with app.test_request_context(), force_locale("ru"):
        said = {n: ngettext("Try again in %(num)s minute.", "Try again in %(num)s minutes.", n) for n in (1, 2, 5, 11, 21, 1234)}
        assert said[1] == "Попробуйте снова через 1 минуту."
        assert said[2] == "Попробуйте снова через 2 минуты."
        assert said[5] == said[11].replace("11", "5") == "Попробуйте снова через 5 минут."
        assert said[21] == "Попробуйте снова через 21 минуту."
        assert said[1234] == "Попробуйте снова через 1\u00a0234 минуты."
        assert number(1234.5, 1) == "1\u00a0234,5" and percent(12.5) == "12,5\u00a0%"
        from datetime import datetime
        assert format_local(datetime(2026, 11, 27, 9, 15), "Europe/Berlin") == "27.11.2026 10:15 CET (UTC+01:00)"
        assert relative(datetime(2026, 11, 25, 9, 0), datetime(2026, 11, 27, 9, 0)) == "2 дня назад"
    with app.test_request_context():
        assert number(1234.5, 1) == "1,234.5" and percent(12.5) == "12.5%"
        assert format_local(datetime(2026, 11, 27, 9, 15), "UTC") == "2026-11-27 09:15 UTC"


def test_the_log_in_page_follows_the_browser(client):
    russian = client.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}).get_data(as_text=True)
    assert '<html lang="ru">' in russian and "Вход в Slotlens" in russian and "Log in" not in russian
    english = client.get("/login", headers={"Accept-Language": "de-DE,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "Log in to Slotlens" in english
    assert "Log in to Slotlens" in client.get("/login").get_data(as_text=True), "English when the browser names no language"


def test_a_failed_log_in_answers_in_the_browsers_language(client, people):
    token = csrf_token(client)
    page = client.post("/login", data={"email": "analyst@example.com", "password": "wrong", "csrf_token": token},
                       headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "Неверная почта или пароль." in page


def test_an_accounts_choice_outranks_the_browser_and_is_remembered(app, client, auth, people):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    auth.login("analyst@example.com")
    with app.app_context():
        account = Account.get(Account.email == "analyst@example.com")
        assert (account.language, account.browser_language) == ("", "ru")
        assert languages.email_language(account) == "ru", "until chosen, emails follow the browser of the last log-in"
    page = client.get("/account/password").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="ru"', page) and "Ваша учётная запись" in page

    answer = client.post("/account/language", data={"language": "en", "csrf_token": csrf_token(client, "/account/password")}, follow_redirects=True)
    assert "Saved: Slotlens speaks English to you" in answer.get_data(as_text=True), "the confirmation is in the new language"
    assert "Your account" in client.get("/account/password").get_data(as_text=True)
    with app.app_context():
        assert languages.email_language(Account.get(Account.email == "analyst@example.com")) == "en"

    answer = client.post("/account/language", data={"language": "ru", "csrf_token": csrf_token(client, "/account/password")}, follow_redirects=True)
    assert "Сохранено: Slotlens говорит с вами по-русски" in answer.get_data(as_text=True)


def test_an_unknown_language_is_refused_and_nothing_changes(app, client, auth, people):
    auth.login("analyst@example.com")
    answer = client.post("/account/language", data={"language": "xx", "csrf_token": csrf_token(client, "/account/password")})
    assert answer.status_code == 400 and "Not a valid choice" in answer.get_data(as_text=True)
    with app.app_context():
        assert Account.get(Account.email == "analyst@example.com").language == ""


def test_emails_speak_english_to_an_account_that_never_said(app):
    with app.app_context():
        account = make_account("new@example.com")
        assert languages.email_language(account) == "en"


def test_a_russian_admin_hears_the_deeper_modules_refusals_in_russian(app, client, auth, people):
    """Errors written below the blueprints (masking, the slot catalogue, account removal)
    reach a Russian page in Russian; the same code keeps speaking English elsewhere."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    auth.login("admin@example.com")
    page = f"/admin/agents/{people['support'].id}"
    masking = client.post(f"{page}/privacy", data={"csrf_token": csrf_token(client, page), "also_mask": "(unclosed"})
    assert masking.status_code == 400
    assert ("Выражение 1 «(unclosed» Slotlens выполнить не может; сообщение движка регулярных выражений (RE2, по-английски): "
            "«missing ): (unclosed»." in masking.get_data(as_text=True)), "RE2's own reason, quoted as its message"
    catalogue = client.post(f"{page}/slots/upload", data={"csrf_token": csrf_token(client, page),
                                                          "catalogue": (io.BytesIO(b"slot,label\nx,y\n"), "a.csv")},
                            content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "В первой строке CSV должны быть названия столбцов key, name, type" in catalogue
    rows = b"key,name,type\nwelcome,,message\nlong," + b"x" * 300 + b",question\n"
    refused_rows = client.post(f"{page}/slots/upload", data={"csrf_token": csrf_token(client, page), "catalogue": (io.BytesIO(rows), "b.csv")},
                               content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert ("Ничего не изменено. Строка 2 (ключ «welcome»), название: не может быть пустым. "
            "Строка 3 (ключ «long»), название: длиннее допустимого (символов не больше 200).") in refused_rows
    with app.app_context():
        admin = Account.get(Account.email == "admin@example.com")
    refused = client.post(f"/admin/accounts/{admin.id}/delete", data={"csrf_token": csrf_token(client, "/admin/")},
                          follow_redirects=True).get_data(as_text=True)
    assert "Нельзя удалить собственную учётную запись." in refused


def test_the_outbox_dates_its_emails_as_the_language_writes_times(tmp_path, database_url):
    caught = tmp_path / "outbox"
    caught.mkdir()
    (caught / "1.eml").write_bytes(b"From: reports@slotlens.test\r\nTo: admin@example.com\r\nSubject: Hello\r\n"
                                   b"Date: Fri, 27 Nov 2026 10:15:00 +0100\r\n\r\nHi\r\n")
    app = create_app(app_config(tmp_path, database_url, MAIL_CATCHER_DIR=str(caught), TIMEZONE="Europe/Berlin"),
                     instance_path=str(tmp_path / "instance"))
    with app.app_context():
        fresh_schema(database_url)
        make_account("admin@example.com", is_admin=True)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    Auth(client).login("admin@example.com")
    assert "· 27.11.2026 10:15 CET (UTC+01:00)" in client.get("/outbox").get_data(as_text=True)
