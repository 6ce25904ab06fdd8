"""Accounts without a side channel: Forgot password?, invitations, `reset-password`,
each account's last log-in, and deleting an account."""
import re

from models import Account
from tests.conftest import Auth


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
