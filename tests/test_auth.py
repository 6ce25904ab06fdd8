"""Logging in and out, CSRF, and who sees which agent."""
import pytest

from tests.conftest import PASSWORD, csrf_token


def test_login_and_logout(client, auth, people):
    assert client.get("/analytics").status_code == 302
    response = auth.login("analyst@example.com")
    assert response.status_code == 302 and response.location == "/analytics"
    page = client.get("/analytics").get_data(as_text=True)
    assert "analyst@example.com" in page and "Support Bot" in page
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/analytics")})
    assert response.status_code == 302
    assert client.get("/analytics").status_code == 302


def test_wrong_password_is_refused_with_a_message(client, auth, people):
    response = auth.login("analyst@example.com", "not the password")
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/analytics").status_code == 302


def test_email_is_case_insensitive(client, auth, people):
    assert auth.login("Analyst@Example.COM").status_code == 302


def test_post_without_csrf_token_is_refused(client, people):
    response = client.post("/login", data={"email": "analyst@example.com", "password": PASSWORD})
    assert response.status_code == 400 and "The CSRF token is missing." in response.get_data(as_text=True)
    assert client.get("/analytics").status_code == 302


@pytest.mark.parametrize(
    "next_url, landing",
    [
        ("/exports", "/exports"),
        ("https://evil.example/", "/analytics"),
        ("//evil.example/", "/analytics"),
        ("/\\evil.example", "/analytics"),
        ("javascript:alert(1)", "/analytics"),
    ],
)
def test_login_returns_to_local_pages_only(client, people, next_url, landing):
    token = csrf_token(client)
    response = client.post(
        "/login", query_string={"next": next_url}, data={"email": "analyst@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.location == landing


def test_analyst_sees_only_granted_agents(client, auth, people):
    auth.login("analyst@example.com")
    page = client.get("/analytics").get_data(as_text=True)
    assert "Support Bot" in page and "Sales Bot" not in page


def test_admin_sees_every_agent(client, auth, people):
    auth.login("admin@example.com")
    page = client.get("/analytics").get_data(as_text=True)
    assert "Support Bot" in page and "Sales Bot" in page


def test_account_without_grants_gets_a_helpful_empty_state(client, auth, people):
    auth.login("nobody@example.com")
    page = client.get("/analytics").get_data(as_text=True)
    assert "Ask an admin to grant you access" in page


def test_admin_pages_are_for_admins(client, auth, people):
    assert client.get("/admin/").status_code == 302
    auth.login("analyst@example.com")
    assert client.get("/admin/").status_code == 403


def test_admin_creates_account_agent_and_grant(app, client, auth, people):
    auth.login("admin@example.com")
    response = auth.post("/admin/agents", {"name": "New Bot"}, form_page="/admin/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "shown only now" in page and "sl_" in page
    response = auth.post("/admin/accounts", {"email": "new@example.com", "password": "short"}, form_page="/admin/")
    assert response.status_code == 400 and "at least 10 characters" in response.get_data(as_text=True)
    response = auth.post("/admin/accounts", {"email": "new@example.com", "password": PASSWORD}, form_page="/admin/")
    assert response.status_code == 302
    from models import Account, Agent, Grant

    with app.app_context():
        account, agent = Account.get(Account.email == "new@example.com"), Agent.get(Agent.name == "New Bot")
    response = auth.post("/admin/grants", {"account": account.id, "agent": agent.id}, form_page="/admin/")
    assert response.status_code == 302
    with app.app_context():
        grant = Grant.get((Grant.account == account) & (Grant.agent == agent))
    assert auth.post(f"/admin/grants/{grant.id}/delete", {}, form_page="/admin/").status_code == 302
    with app.app_context():
        assert not Grant.select().where(Grant.account == account).exists()
