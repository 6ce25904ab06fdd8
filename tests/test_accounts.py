"""Accounts without a side channel: Forgot password?, invitations, `reset-password`,
each account's last log-in, and deleting an account."""
import json
import os
import re
import smtplib
import threading
import time
from datetime import date
from types import SimpleNamespace

from urllib.parse import urlsplit

import itsdangerous.timed
import pytest

from access import password_links, passwords, removal, tokens
from export_queue import links
from extensions import mail
from models import Account, Alert, ExportItem, ExportRequest, Grant, Subscription
from tests.conftest import PASSWORD, Auth, csrf_token, make_account


def admin_row(client, email):
    """The Accounts table's row of `email` on Admin, as text."""
    page = client.get("/admin/").get_data(as_text=True)
    row = next(row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if f"<td>{email}</td>" in row)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()


def test_admin_sees_each_accounts_last_log_in(app, client, auth, people):
    auth.login("admin@example.com")
    assert "never" in admin_row(client, "analyst@example.com")
    Auth(app.test_client()).login("analyst@example.com")
    with app.app_context():
        assert Account.get(Account.email == "analyst@example.com").last_login_at is not None
    assert "just now" in admin_row(client, "analyst@example.com") and "never" not in admin_row(client, "analyst@example.com")
    Auth(app.test_client()).login("nobody@example.com", "a wrong password")
    assert "never" in admin_row(client, "nobody@example.com"), "a failed log-in is not one"


def reset_link(outbox):
    """The one link that sets a password in the one email sent, as a path."""
    (message,) = outbox
    return re.search(r"http://slotlens\.test(/login/(?:reset|join)/\S+)", message.body).group(1)


def ask_for_reset(client, email):
    return client.post("/login/forgot", data={"email": email, "csrf_token": csrf_token(client, "/login/forgot")})


def set_new_password(client, path, password="a brand new password"):
    return client.post(path, data={"new": password, "repeat": password, "csrf_token": csrf_token(client, "/login/forgot")})


def test_forgot_password_answers_the_same_whether_or_not_the_address_has_an_account(client, people):
    answers = []
    for email in ("analyst@example.com", "nobody-here@example.com"):
        with mail.record_messages() as outbox:
            response = ask_for_reset(client, email)
        answers.append((response.status_code, response.get_data(as_text=True)))
        assert len(outbox) == (email == "analyst@example.com")
    assert answers[0] == answers[1] and answers[0][0] == 200 and "Check your email" in answers[0][1]
    assert "Forgot password?" in client.get("/login").get_data(as_text=True)


def test_a_reset_link_sets_the_password_once_and_logs_in(app, client, auth, people, caplog):
    laptop = app.test_client()
    Auth(laptop).login("analyst@example.com")
    with mail.record_messages() as outbox:
        ask_for_reset(client, "Analyst@Example.com")
    (message,) = outbox
    assert message.subject == "Reset your Slotlens password" and message.recipients == ["analyst@example.com"]
    path = reset_link(outbox)
    assert "For analyst@example.com" in client.get(path).get_data(as_text=True)
    short = set_new_password(client, path, "short")
    assert short.status_code == 400 and "Use at least 10 characters." in short.get_data(as_text=True)
    response = set_new_password(client, path)
    assert response.status_code == 302 and response.location == "/analytics"
    assert client.get("/analytics").status_code == 200, "logged in"
    assert laptop.get("/analytics").status_code == 302, "other sessions are logged out"
    again = client.get(path)
    assert again.status_code == 410 and "This link no longer works" in again.get_data(as_text=True)
    assert set_new_password(app.test_client(), path, "someone else's idea").status_code == 410
    assert Auth(app.test_client()).login("analyst@example.com").status_code == 200, "the old password is refused"
    assert Auth(app.test_client()).login("analyst@example.com", "a brand new password").status_code == 302
    token = path.rsplit("/", 1)[1]
    assert "path=/login/reset/<token>" in caplog.text and token not in caplog.text and token.split(".")[0] not in caplog.text


def link_made_ago(app, monkeypatch, email, purpose, seconds):
    """The path of the link an email made `seconds` ago would carry (itsdangerous
    signs it with that time)."""
    then = time.time() - seconds
    with app.app_context(), monkeypatch.context() as patch:
        patch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: then))
        return urlsplit(password_links.link(Account.get(Account.email == email), purpose)).path


def test_an_expired_or_tampered_reset_link_is_refused_and_offers_a_new_one(app, client, people, monkeypatch):
    assert client.get(link_made_ago(app, monkeypatch, "analyst@example.com", tokens.RESET, 3600 - 60)).status_code == 200
    path = link_made_ago(app, monkeypatch, "analyst@example.com", tokens.RESET, 3600 + 1)
    expired = client.get(path)
    assert expired.status_code == 410 and "This link has expired" in expired.get_data(as_text=True)
    assert 'href="/login/forgot"' in expired.get_data(as_text=True)
    assert set_new_password(client, path).status_code == 410
    tampered = client.get(path[:-3] + ("abc" if not path.endswith("abc") else "xyz"))
    assert tampered.status_code == 404 and "This link is not valid" in tampered.get_data(as_text=True)
    wrong_purpose = client.get(path.replace("/login/reset/", "/login/join/"))
    assert wrong_purpose.status_code == 404, "a reset link is no invitation"


def test_a_reset_link_dies_when_the_password_changes(app, client, auth, people):
    with mail.record_messages() as outbox:
        ask_for_reset(client, "analyst@example.com")
    auth.login("analyst@example.com")
    auth.post("/account/password", {"current": PASSWORD, "new": "changed it myself", "repeat": "changed it myself"}, "/account/password")
    assert app.test_client().get(reset_link(outbox)).status_code == 410


def test_asking_for_reset_links_is_rate_limited(app, client, people):
    app.config["LOGIN_MAX_FAILURES"] = 3
    with mail.record_messages() as outbox:
        statuses = [ask_for_reset(client, email).status_code for email in ["analyst@example.com"] * 3 + ["nobody-here@example.com"] * 3]
        limited = ask_for_reset(client, "analyst@example.com")
    assert statuses == [200] * 6 and len(outbox) == 3
    assert limited.status_code == 429 and "Too many requests for this address. Try again in 15 minutes." in limited.get_data(as_text=True)


def test_an_admin_invites_and_the_invited_account_joins_by_setting_a_password(app, client, auth, people, monkeypatch):
    auth.login("admin@example.com")
    with mail.record_messages() as outbox:
        created = auth.post("/admin/accounts", {"email": "New@Example.com"}, form_page="/admin/")
    assert created.status_code == 302
    (message,) = outbox
    assert message.subject == "You are invited to Slotlens" and message.recipients == ["new@example.com"]
    path = reset_link(outbox)
    assert path.startswith("/login/join/")
    assert "Invited, not yet joined" in admin_row(client, "new@example.com")
    with app.app_context():
        newbie = Account.get(Account.email == "new@example.com")
    granted = auth.post("/admin/grants", {"account": newbie.id, "agent": people["support"].id}, form_page="/admin/")
    assert granted.status_code == 302, "an invited account can be granted agents at once"

    stranger = app.test_client()
    refused = Auth(stranger).login("new@example.com", "")
    assert refused.status_code == 200 and stranger.get("/analytics").status_code == 302, "no password, no log-in"
    assert "Wrong email or password." in Auth(stranger).login("new@example.com", "any password at all").get_data(as_text=True)

    with mail.record_messages() as outbox:
        again = auth.post(f"/admin/accounts/{newbie.id}/invite", {}, form_page="/admin/")
    assert again.status_code == 302 and len(outbox) == 1 and reset_link(outbox).startswith("/login/join/")

    week_old = link_made_ago(app, monkeypatch, "new@example.com", tokens.INVITATION, 7 * 24 * 3600 - 60)
    assert "Join Slotlens" in stranger.get(week_old).get_data(as_text=True), "an invitation works for 7 days"
    assert stranger.get(week_old.replace("/login/join/", "/login/reset/")).status_code == 404, "an invitation is no reset link"

    joined = set_new_password(stranger, path, "my very own password")
    assert joined.status_code == 302 and stranger.get("/analytics").status_code == 200
    assert "Support Bot" in stranger.get("/analytics").get_data(as_text=True)
    assert "Invited" not in admin_row(client, "new@example.com") and "just now" in admin_row(client, "new@example.com")
    assert stranger.get(week_old).status_code == 410, "every invitation dies once the password is set"
    with mail.record_messages() as outbox:
        auth.post(f"/admin/accounts/{newbie.id}/invite", {}, form_page="/admin/")
    assert outbox == [], "no invitation for an account that has joined"


def test_an_invitation_expires_after_7_days(app, client, auth, people, monkeypatch):
    auth.login("admin@example.com")
    auth.post("/admin/accounts", {"email": "late@example.com"}, form_page="/admin/")
    expired = client.get(link_made_ago(app, monkeypatch, "late@example.com", tokens.INVITATION, 7 * 24 * 3600 + 1))
    page = expired.get_data(as_text=True)
    assert expired.status_code == 410 and "This link has expired" in page and "An invitation works for 7 days" in page


def test_reset_password_prints_a_one_time_link_or_sets_the_password(app, client, runner, people):
    printed = runner.invoke(args=["reset-password", "Analyst@Example.com"])
    assert printed.exit_code == 0 and "Link to set a new password for analyst@example.com (works once, for an hour): " in printed.output
    path = re.search(r"http://slotlens\.test(/login/reset/\S+)", printed.output).group(1)
    assert set_new_password(client, path, "set from the command").status_code == 302
    assert set_new_password(app.test_client(), path, "set from the command").status_code == 410

    laptop = app.test_client()
    Auth(laptop).login("analyst@example.com", "set from the command")
    direct = runner.invoke(args=["reset-password", "analyst@example.com", "--password", "typed by an admin"])
    assert direct.exit_code == 0 and direct.output == "Password set for analyst@example.com; its sessions were logged out.\n"
    assert laptop.get("/analytics").status_code == 302
    assert Auth(laptop).login("analyst@example.com", "typed by an admin").status_code == 302

    short = runner.invoke(args=["reset-password", "analyst@example.com", "--password", "short"])
    assert short.exit_code == 1 and "The password must have 10 to 200 characters." in short.output
    unknown = runner.invoke(args=["reset-password", "ghost@example.com"])
    assert unknown.exit_code == 1 and "No account 'ghost@example.com'" in unknown.output
    created = runner.invoke(args=["create-user", "cli@example.com", "--password", "long enough password", "--admin"])
    assert created.exit_code == 0 and created.output == "Created admin account cli@example.com.\n"


def test_deleting_an_account_ends_its_subscriptions_and_alerts_and_deletes_its_reports(app, client, auth, people):
    analyst = app.test_client()
    Auth(analyst).login("analyst@example.com")
    today = date.today().isoformat()
    export = {"agents": [people["support"].id], "date_from": today, "date_to": today, "action": "export"}
    assert Auth(analyst).post("/analytics", export).status_code == 302
    with app.app_context():
        account = Account.get(Account.email == "analyst@example.com")
        agents = json.dumps([people["support"].id])
        Subscription.create(account=account, kinds='["stop-slots"]', agents=agents, frequency="daily", at="09:00")
        Alert.create(account=account, agents=agents, watch="exit-rate", direction="rises", threshold=500, frequency="daily", at="09:00")
        (item,) = ExportItem.select()
        report = links.report_path(item)
    assert item.state == "sent" and os.path.exists(report)

    auth.login("admin@example.com")
    page = client.get("/admin/").get_data(as_text=True)
    assert '<details class="confirm"><summary>Delete</summary>' in page and "Delete analyst@example.com</button>" in page
    deleted = auth.post(f"/admin/accounts/{account.id}/delete", {}, "/admin/")
    assert deleted.status_code == 302
    assert "Account analyst@example.com deleted" in client.get(deleted.location).get_data(as_text=True)
    with app.app_context():
        assert not Account.select().where(Account.email == "analyst@example.com").exists()
        assert [model.select().count() for model in (Subscription, Alert, ExportRequest, ExportItem, Grant)] == [0, 0, 0, 0, 0]
    assert not os.path.exists(report) and not os.path.exists(os.path.dirname(report)), "its report files are deleted"
    assert analyst.get("/analytics").status_code == 302, "its sessions end"
    audit_page = client.get("/admin/audit").get_data(as_text=True)
    assert "Deleted the account analyst@example.com" in audit_page


def test_an_admin_cannot_delete_their_own_account(app, client, auth, people):
    auth.login("admin@example.com")
    with app.app_context():
        admin_id = Account.get(Account.email == "admin@example.com").id
    refused = auth.post(f"/admin/accounts/{admin_id}/delete", {}, "/admin/")
    assert "You cannot delete your own account." in client.get(refused.location).get_data(as_text=True)
    with app.app_context():
        assert Account.select().where(Account.id == admin_id).exists()
    assert "Delete admin@example.com</button>" not in client.get("/admin/").get_data(as_text=True)


def test_two_admins_deleting_each_other_at_once_leave_the_last_admin(app, client, auth, people, monkeypatch):
    """The second deletion, checked under the admins' lock, finds its deleter gone:
    it would delete the last admin who can log in."""
    import blueprints.admin

    with app.app_context():
        first = Account.get(Account.email == "admin@example.com").id
        second = make_account("second-admin@example.com", is_admin=True).id
        Account.create(email="invited-admin@example.com", is_admin=True, password_hash=passwords.NOT_SET)
    auth.login("admin@example.com")
    other = app.test_client()
    Auth(other).login("second-admin@example.com")
    first_token, second_token = csrf_token(client, "/admin/"), csrf_token(other, "/admin/")
    original = blueprints.admin.found

    def found_then_deleted_meanwhile(model, row_id):
        monkeypatch.setattr(blueprints.admin, "found", original)
        row = original(model, row_id)
        thread = threading.Thread(target=lambda: other.post(f"/admin/accounts/{first}/delete", data={"csrf_token": second_token}))
        thread.start()
        thread.join()
        return row

    monkeypatch.setattr(blueprints.admin, "found", found_then_deleted_meanwhile)
    answer = client.post(f"/admin/accounts/{second}/delete", data={"csrf_token": first_token})
    assert answer.status_code == 302
    with app.app_context():
        admins = [a.email for a in Account.select().where(Account.is_admin).order_by(Account.email)]
    assert admins == ["invited-admin@example.com", "second-admin@example.com"], "one admin who can log in is left"
    assert other.get("/admin/").status_code == 200


@pytest.mark.parametrize("deleter, account, admins_left, answer", [
    (1, 1, 3, "You cannot delete your own account."),
    (1, 2, 0, "This is the last admin who can log in: make another account admin first."),
    (1, 2, 1, None),
])
def test_who_may_delete_whom(deleter, account, admins_left, answer):
    assert removal.refusal(deleter, account, admins_left) == answer


def test_a_mail_server_fault_never_breaks_the_page_nor_logs_the_address(app, client, people, monkeypatch, caplog):
    def refuse(message):
        raise smtplib.SMTPRecipientsRefused({"analyst@example.com": (451, b"4.7.1 <analyst@example.com> try later")})

    monkeypatch.setattr(password_links, "hand_over", refuse)
    response = ask_for_reset(client, "analyst@example.com")
    assert response.status_code == 200 and "Check your email" in response.get_data(as_text=True)
    assert "event=password_link_not_sent" in caplog.text and "kind=mail-recipient-refused" in caplog.text
    assert "analyst@example.com" not in caplog.text
