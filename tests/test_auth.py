"""Logging in and out, CSRF, and who sees which agent."""
import re

import pytest

from access import api_keys, passwords
import blueprints.auth
import tasks
from models import Account, Agent, LoginFailure
from tests.conftest import PASSWORD, Auth, csrf_token, event


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
    assert response.status_code == 302  # reloading the page that follows sends nothing again
    page = client.get(response.location).get_data(as_text=True)
    assert "the only time the key is shown" in page and "sl_" in page
    assert "sl_" not in client.get(response.location).get_data(as_text=True).replace("sl_…", "")  # once
    response = auth.post("/admin/accounts", {"email": "new@example.com"}, form_page="/admin/")
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


def session_cookie(client):
    return client.get_cookie("session").value


def test_logout_ends_the_session_even_for_a_saved_cookie(app, client, auth, people):
    auth.login("analyst@example.com")
    saved = session_cookie(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/analytics")})
    thief = app.test_client()
    thief.set_cookie("session", saved)
    assert thief.get("/analytics").status_code == 302, "a cookie saved before log-out no longer works"


def test_changing_the_password_logs_out_other_sessions(app, client, auth, people):
    auth.login("analyst@example.com")
    laptop = app.test_client()
    Auth(laptop).login("analyst@example.com")
    wrong = auth.post("/account/password", {"current": "not it at all", "new": "a new long password", "repeat": "a new long password"}, "/account/password")
    assert wrong.status_code == 400 and "This is not your current password." in wrong.get_data(as_text=True)
    mismatch = auth.post("/account/password", {"current": PASSWORD, "new": "a new long password", "repeat": "another one!"}, "/account/password")
    assert mismatch.status_code == 400 and "The two new passwords differ." in mismatch.get_data(as_text=True)
    changed = auth.post("/account/password", {"current": PASSWORD, "new": "a new long password", "repeat": "a new long password"}, "/account/password")
    assert changed.status_code == 302
    assert client.get("/analytics").status_code == 200, "this session goes on"
    assert laptop.get("/analytics").status_code == 302, "the other one is logged out"
    assert Auth(laptop).login("analyst@example.com").status_code == 200  # the old password is refused
    assert Auth(laptop).login("analyst@example.com", "a new long password").status_code == 302


def test_an_admin_disables_and_enables_an_account(app, client, auth, people):
    analyst = app.test_client()
    Auth(analyst).login("analyst@example.com")
    auth.login("admin@example.com")
    with app.app_context():
        analyst_id = Account.get(Account.email == "analyst@example.com").id
        admin_id = Account.get(Account.email == "admin@example.com").id
    assert auth.post(f"/admin/accounts/{analyst_id}/disable", {}, "/admin/").status_code == 302
    assert analyst.get("/analytics").status_code == 302, "logged out at once"
    refused = Auth(analyst).login("analyst@example.com")
    assert refused.status_code == 403 and "This account is disabled" in refused.get_data(as_text=True)
    assert "Wrong email or password." in Auth(analyst).login("analyst@example.com", "wrong guess!").get_data(as_text=True)
    auth.post(f"/admin/accounts/{admin_id}/disable", {}, "/admin/")
    assert client.get("/admin/").status_code == 200, "an admin cannot lock themselves out"
    assert auth.post(f"/admin/accounts/{analyst_id}/enable", {}, "/admin/").status_code == 302
    assert Auth(analyst).login("analyst@example.com").status_code == 302


def test_an_unknown_email_costs_a_password_check_too(client, auth, people, monkeypatch):
    checked = []
    real = passwords.check_password_hash
    monkeypatch.setattr(passwords, "check_password_hash", lambda *args: checked.append(1) or real(*args))
    assert "Wrong email or password." in auth.login("nobody-here@example.com").get_data(as_text=True)
    assert checked == [1], "a missing account answers no faster than a wrong password"


def test_emails_and_passwords_are_bounded_and_not_echoed(app, client, auth, people):
    long_email = "a" * 250 + "@example.com"
    response = auth.login(long_email, "whatever password")
    page = response.get_data(as_text=True)
    assert "An email address has at most 254 characters." in page and long_email not in page
    response = auth.login("analyst@example.com", "p" * 201)
    assert "Use at most 200 characters." in response.get_data(as_text=True)
    with app.app_context():
        assert LoginFailure.select().count() == 0, "nothing was stored"
    auth.login("admin@example.com")
    response = auth.post("/admin/accounts", {"email": long_email}, form_page="/admin/")
    assert response.status_code == 400 and "at most 254 characters" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["/exports%0d%0aSet-Cookie:x=1", "/exports%0aX", "/exports%09"])
def test_a_next_with_control_characters_goes_to_analytics(client, people, target):
    token = csrf_token(client, f"/login?next={target}")
    response = client.post(f"/login?next={target}", data={"email": "analyst@example.com", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.location == "/analytics"


def test_the_account_form_accepts_local_domains_and_says_why_it_refuses(app, client, auth, people):
    auth.login("admin@example.com")
    response = auth.post("/admin/accounts", {"email": "newbie@slotlens.local"}, form_page="/admin/")
    assert response.status_code == 302
    response = auth.post("/admin/accounts", {"email": "newbie@slotlens"}, form_page="/admin/")
    assert response.status_code == 400 and "It should have a period" in response.get_data(as_text=True)


def test_an_agent_page_onboards_a_bot_and_shows_its_data_arriving(app, client, auth, people):
    auth.login("admin@example.com")
    created = auth.post("/admin/agents", {"name": "Pizza Bot"}, form_page="/admin/")
    assert created.location.startswith("/admin/agents/")
    page = client.get(created.location).get_data(as_text=True)
    key = re.search(r"export SLOTLENS_API_KEY=(?:'|&#39;)(sl_[\w-]+)", page).group(1)
    assert "curl -sS -X POST http://slotlens.test/api/v1/events" in page and "nothing yet" in page
    assert "--agent &#39;Pizza Bot&#39;" in page, "the importers' commands name the agent"

    events = [event("d1", "user", "2026-11-29T10:00:00Z"), event("d1", "bot", "2026-11-29T10:00:01Z", slot="greet")]
    for _ in range(2):  # the second time, nothing new
        answer = client.post("/api/v1/events", json=events, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
    page = client.get(created.location).get_data(as_text=True)
    assert re.search(r'id="events-today">2<', page) and re.search(r'id="events-total">2<', page)
    assert "just now" in page and "nothing yet" not in page
    assert "sl_" not in page.replace("sl_…", ""), "the key was shown once"

    rotated = auth.post(created.location + "/rotate-key", {}, form_page=created.location)
    new_key = re.search(r"SLOTLENS_API_KEY=(?:'|&#39;)(sl_[\w-]+)", client.get(rotated.location).get_data(as_text=True)).group(1)
    for used, status in ((key, 401), (new_key, 200)):
        assert client.post("/api/v1/events", json=events, headers={"Authorization": f"Bearer {used}"}).status_code == status

    auth.login("analyst@example.com")
    assert client.get(created.location).status_code == 403
    token = csrf_token(client, "/analytics")
    assert client.post(created.location + "/rotate-key", data={"csrf_token": token}).status_code == 403


def test_an_admins_disable_racing_the_users_own_form_holds(app, client, auth, people, monkeypatch):
    """Each side writes only the fields its form changes: neither re-enables the account,
    revives ended sessions, nor puts an old password back."""
    import threading

    import blueprints.admin

    auth.login("admin@example.com")
    disable_token = csrf_token(client, "/admin/")
    user = app.test_client()
    Auth(user).login("analyst@example.com")
    with app.app_context():
        analyst_id = Account.get(Account.email == "analyst@example.com").id

    def meanwhile(module, name, post):
        """Make `module.name` (called after the request read the account, before it
        writes) first run `post` in another thread, to its end, once."""
        original = getattr(module, name)

        def interleaved(*args, **kwargs):
            monkeypatch.setattr(module, name, original)
            result = original(*args, **kwargs)
            thread = threading.Thread(target=post)
            thread.start()
            thread.join()
            return result

        monkeypatch.setattr(module, name, interleaved)

    # The admin disables the account while the user's form is in flight.
    files_token = csrf_token(user, "/account/password")
    meanwhile(blueprints.auth, "ReportFilesForm", lambda: client.post(f"/admin/accounts/{analyst_id}/disable", data={"csrf_token": disable_token}))
    assert user.post("/account/files", data={"csv_separator": ";", "csrf_token": files_token}).status_code == 302
    with app.app_context():
        analyst = Account.get_by_id(analyst_id)
        assert analyst.is_disabled, "the user's form re-enabled the account"
        assert analyst.csv_separator == ";"
    assert user.get("/analytics").status_code == 302, "the ended session came back"

    # The user changes the password while the admin's disable is in flight.
    assert auth.post(f"/admin/accounts/{analyst_id}/enable", {}, "/admin/").status_code == 302
    Auth(user).login("analyst@example.com")
    password_token = csrf_token(user, "/account/password")
    new_password = {"current": PASSWORD, "new": "a new long password", "repeat": "a new long password", "csrf_token": password_token}
    meanwhile(blueprints.admin, "found", lambda: user.post("/account/password", data=new_password))
    assert auth.post(f"/admin/accounts/{analyst_id}/disable", {}, "/admin/").status_code == 302
    with app.app_context():
        analyst = Account.get_by_id(analyst_id)
        assert analyst.is_disabled
        assert passwords.matches(analyst, "a new long password"), "the admin's save put the old password back"
    assert user.get("/analytics").status_code == 302, "disabled: logged out"


@pytest.mark.parametrize("zone, midnight", [("Asia/Kolkata", (18, 30)), ("Asia/Kathmandu", (18, 15)), ("America/St_Johns", (3, 30))])
def test_new_events_today_count_from_local_midnight_in_every_time_zone(app, client, auth, people, monkeypatch, zone, midnight):
    """Local midnight may fall within a UTC hour (+05:30, +05:45, -03:30): the events that
    arrived in that hour before it are yesterday's, those after it today's."""
    from datetime import datetime, timedelta

    import blueprints.admin
    from ingest import rules, traffic, writer

    app.config["TIMEZONE"] = zone
    local_midnight = datetime(2026, 11, 29, *midnight)  # UTC
    with app.app_context():
        agent = Agent.get(Agent.name == "Support Bot")
        for arrived, dialog, count in ((-10, "late", 2), (5, "early", 3)):  # minutes from local midnight
            monkeypatch.setattr(traffic, "utcnow", lambda: local_midnight + timedelta(minutes=arrived))
            writer.ingest_events(agent, [rules.EventIn(dialog, "web", "user", None, None, datetime(2026, 11, 29, 12, n)) for n in range(count)])
    monkeypatch.setattr(blueprints.admin, "utcnow", lambda: local_midnight + timedelta(minutes=10))
    auth.login("admin@example.com")
    page = client.get(f"/admin/agents/{agent.id}").get_data(as_text=True)
    assert re.search(r'id="events-today">3<', page) and re.search(r'id="events-total">5<', page), re.findall(r'id="events-[a-z]+">\d+<', page)


def test_a_new_api_key_waits_server_side_for_one_showing_on_its_agents_page(app, client, auth, people, runner, monkeypatch):
    """Not in the session cookie (signed, not encrypted); shown once, on that agent's
    page, to the admin who made it; never when stale or replaced."""
    import json
    from datetime import timedelta

    import models
    from tests.conftest import make_account

    def session_text(browser):
        return json.dumps(app.session_interface.get_signing_serializer(app).loads(browser.get_cookie("session").value))

    def shown_key(browser, path):
        found = re.search(r"SLOTLENS_API_KEY=(?:'|&#39;)(sl_[\w-]+)", browser.get(path).get_data(as_text=True))
        return found and found.group(1)

    with app.app_context():
        make_account("second-admin@example.com", is_admin=True)
    other_admin = app.test_client()
    Auth(other_admin).login("second-admin@example.com")
    auth.login("admin@example.com")
    created = auth.post("/admin/agents", {"name": "Pizza Bot"}, form_page="/admin/")
    assert "sl_" not in session_text(client), "the key rides in the session cookie"
    assert shown_key(client, f"/admin/agents/{people['support'].id}") is None, "another agent's page shows it"
    assert shown_key(other_admin, created.location) is None, "another admin sees it"
    key = shown_key(client, created.location)
    assert key and shown_key(client, created.location) is None, "shown once"
    assert client.post("/api/v1/events", json=[], headers={"Authorization": f"Bearer {key}"}).status_code == 200

    auth.post(created.location + "/rotate-key", {}, form_page=created.location)
    assert "sl_" not in session_text(client)
    assert runner.invoke(args=["rotate-key", "Pizza Bot"]).exit_code == 0
    assert shown_key(client, created.location) is None, "a key replaced since is not shown"

    auth.post(created.location + "/rotate-key", {}, form_page=created.location)
    later = models.utcnow() + api_keys.SHOWN_FOR + timedelta(seconds=1)
    monkeypatch.setattr(api_keys, "utcnow", lambda: later)
    tasks.sweep.call_local()
    with app.app_context():
        assert models.NewApiKey.select().count() == 0, "an unseen key is not kept past its time, though no page asked for it"
    assert shown_key(client, created.location) is None, "a key left unseen is not shown later"
