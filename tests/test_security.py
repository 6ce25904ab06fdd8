"""Nobody sees what is not theirs, and no input breaks anything: tests that try."""
import contextlib
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, datetime, timedelta

import pytest

from access import api_keys, passwords
from app import ConfigError
from devtools.processes import ANALYST_PASSWORD, Browserless, Stack, free_port, wait_for
from export_queue import links
from extensions import mail
from ingest import rules, writer
from models import Account, ExportItem, ExportRequest, Grant, LoginFailure
from tests.conftest import PASSWORD, Auth, app_config, create_app, csrf_token, make_account, make_agent

TODAY = date.today()
SECRET_WORDS = ("Secret Bot", "TOPSECRET", "secret-channel")
ROLES = ("anonymous", "outsider", "analyst", "admin")


@pytest.fixture
def database_url(tmp_path):
    """The access rules do not depend on the backend: SQLite only, to keep the matrix fast."""
    return f"sqlite:///{tmp_path}/slotlens.db"


def seed(agent, slot, channel="web"):
    when = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=12)
    writer.upsert_slots(agent, [rules.SlotIn(slot, slot.upper(), "message", f"{slot} text")])
    writer.ingest_events(agent, [rules.EventIn(f"{slot}-{i}", channel, "user", slot, None, when) for i in range(3)])


def export_fields(agent_id):
    return {"agents": [agent_id], "date_from": str(TODAY), "date_to": str(TODAY), "action": "export"}


@pytest.fixture
def world(app):
    """Support Bot (granted to the analyst) and Secret Bot (nobody's but the admin's), each
    with data and a sent export: the analyst's of Support Bot, the admin's of Secret Bot."""
    with app.app_context():
        support, secret = make_agent("Support Bot")[0], make_agent("Secret Bot")[0]
        seed(support, "greet")
        seed(secret, "topsecret", channel="secret-channel")
        make_account("admin@example.com", is_admin=True)
        make_account("analyst@example.com", agents=[support])
        make_account("outsider@example.com")
    tokens = {}
    for email, agent in (("analyst@example.com", support), ("admin@example.com", secret)):
        client = app.test_client()
        Auth(client).login(email)
        with mail.record_messages() as outbox:
            Auth(client).post("/analytics", export_fields(agent.id))
        tokens[email] = re.search(r"/exports/download/(\S+)", outbox[0].body).group(1)
    with app.app_context():
        requests = {r.account.email: r.id for r in ExportRequest.select()}
        grant = Grant.get()
        outsider = Account.get(Account.email == "outsider@example.com")
    return dict(support=support.id, secret=secret.id, tokens=tokens, requests=requests, grant=grant.id, outsider=outsider.id)


def client_as(app, role):
    client = app.test_client()
    if role != "anonymous":
        assert Auth(client).login(f"{role}@example.com").status_code == 302
    return client


def post(client, path, fields):
    """A form POST with a valid CSRF token for this client's session."""
    return client.post(path, data={**fields, "csrf_token": csrf_token(client, "/login")})


# (name, request, expected status for anonymous, outsider, analyst, admin)
MATRIX = [
    ("login page", lambda c, w: c.get("/login"), (200, 200, 200, 200)),
    ("analytics", lambda c, w: c.get("/analytics"), (302, 200, 200, 200)),
    (
        "preview of the secret agent",
        lambda c, w: c.get("/analytics", query_string=export_fields(w["secret"]) | {"action": "preview"}),
        (302, 200, 200, 200),
    ),
    ("export the secret agent", lambda c, w: post(c, "/analytics", export_fields(w["secret"])), (302, 200, 200, 302)),
    ("exports page", lambda c, w: c.get("/exports"), (302, 200, 200, 200)),
    (
        "analyst's download link",
        lambda c, w: c.get(f"/exports/download/{w['tokens']['analyst@example.com']}"),
        (302, 403, 200, 403),
    ),
    (
        "admin's download link",
        lambda c, w: c.get(f"/exports/download/{w['tokens']['admin@example.com']}"),
        (302, 403, 403, 200),
    ),
    (
        "send again the analyst's request",
        lambda c, w: post(c, f"/exports/{w['requests']['analyst@example.com']}/again", {}),
        (302, 404, 302, 404),
    ),
    (
        "send again the admin's request",
        lambda c, w: post(c, f"/exports/{w['requests']['admin@example.com']}/again", {}),
        (302, 404, 404, 302),
    ),
    ("outbox without the catcher", lambda c, w: c.get("/outbox"), (404, 404, 404, 404)),
    ("admin page", lambda c, w: c.get("/admin/"), (302, 403, 403, 200)),
    ("queue health", lambda c, w: c.get("/admin/queue"), (302, 403, 403, 200)),
    (
        "create account",
        lambda c, w: post(c, "/admin/accounts", {"email": "new@example.com"}),
        (302, 403, 403, 302),
    ),
    ("invite again", lambda c, w: post(c, f"/admin/accounts/{w['outsider']}/invite", {}), (302, 403, 403, 302)),
    ("delete an account", lambda c, w: post(c, f"/admin/accounts/{w['outsider']}/delete", {}), (302, 403, 403, 302)),
    ("forgot password", lambda c, w: c.get("/login/forgot"), (200, 200, 200, 200)),
    ("create agent", lambda c, w: post(c, "/admin/agents", {"name": "New Bot"}), (302, 403, 403, 302)),
    (
        "grant the secret agent",
        lambda c, w: post(c, "/admin/grants", {"account": w["outsider"], "agent": w["secret"]}),
        (302, 403, 403, 302),
    ),
    ("revoke a grant", lambda c, w: post(c, f"/admin/grants/{w['grant']}/delete", {}), (302, 403, 403, 302)),
    ("disable an account", lambda c, w: post(c, f"/admin/accounts/{w['outsider']}/disable", {}), (302, 403, 403, 302)),
    ("enable an account", lambda c, w: post(c, f"/admin/accounts/{w['outsider']}/enable", {}), (302, 403, 403, 302)),
    ("password page", lambda c, w: c.get("/account/password"), (302, 200, 200, 200)),
    ("API events by cookie", lambda c, w: c.post("/api/v1/events", json=[]), (401, 401, 401, 401)),
    ("API slots by cookie", lambda c, w: c.put("/api/v1/slots", json=[]), (401, 401, 401, 401)),
    ("log out", lambda c, w: post(c, "/logout", {}), (302, 302, 302, 302)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name, call, expected", MATRIX, ids=[row[0] for row in MATRIX])
def test_access_matrix(app, world, role, name, call, expected):
    client = client_as(app, role)
    response = call(client, world)
    body = response.get_data(as_text=True)
    response.close()
    assert response.status_code == expected[ROLES.index(role)], name
    if role != "admin":
        for word in SECRET_WORDS:
            assert word not in body, f"{name} shows {word!r} to {role}"


def test_nothing_is_queued_for_an_agent_not_granted(app, world):
    analyst = client_as(app, "analyst")
    before = ExportItem.select().count()
    response = post(analyst, "/analytics", export_fields(world["secret"]))
    assert "An agent picked is not one you can see" in response.get_data(as_text=True)
    assert ExportItem.select().count() == before


def test_revoking_a_grant_stops_new_exports_at_once(app, world):
    analyst = client_as(app, "analyst")
    Grant.delete().execute()
    before = ExportItem.select().count()
    response = post(analyst, "/analytics", export_fields(world["support"]))
    assert response.status_code == 200 and "will be sent" not in response.get_data(as_text=True)
    assert ExportItem.select().count() == before
    again = post(analyst, f"/exports/{world['requests']['analyst@example.com']}/again", {})
    assert again.status_code == 404


def test_every_form_post_needs_a_csrf_token(app, world):
    admin = client_as(app, "admin")
    post_routes = [
        rule for rule in app.url_map.iter_rules() if "POST" in rule.methods and not rule.rule.startswith("/api/")
    ]
    assert len(post_routes) >= 7
    for rule in post_routes:
        path = re.sub(r"<any\((\w+)[^>]*>", r"\1", re.sub(r"<int:\w+>", "1", rule.rule))
        response = admin.post(path, data={"email": "x@example.com", "password": PASSWORD, "name": "X"})
        assert response.status_code == 400, rule.rule
        assert "CSRF" in response.get_data(as_text=True), rule.rule


XSS = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "<svg onload=alert(1)>"]


@pytest.mark.parametrize("payload", XSS)
def test_user_strings_are_escaped_in_pages_and_emails(app, payload):
    with app.app_context():
        agent = make_agent(f"Bot {payload}")[0]
        make_account("admin@example.com", is_admin=True)
        writer.upsert_slots(agent, [rules.SlotIn("s", f"Slot {payload}", f"type {payload}", payload)])
        when = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=12)
        writer.ingest_events(agent, [rules.EventIn("d", f"ch {payload}", "user", "s", payload, when)])
    admin = client_as(app, "admin")
    with mail.record_messages() as outbox:
        post(admin, "/analytics", export_fields(agent.id) | {"channels": [f"ch {payload}"]})
    pages = [admin.get(path).get_data(as_text=True) for path in ("/analytics?" + f"agents={agent.id}", "/exports", "/admin/")]
    for text in pages + [outbox[0].html]:
        assert payload not in text
    assert "&lt;" in pages[0] and "&lt;" in outbox[0].html


def test_security_headers_and_cookie_flags(client, people):
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers, "plain http: no HSTS"
    assert "no-store" not in response.headers.get("Cache-Control", ""), "an anonymous page may be cached"
    login = Auth(client).login("analyst@example.com")
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    for path in ("/analytics", "/exports", "/account/password"):
        assert client.get(path).headers["Cache-Control"] == "private, no-store", path


def test_session_cookie_is_secure_behind_https(tmp_path, database_url):
    from app import create_app
    from tests.conftest import app_config

    app = create_app(app_config(tmp_path, database_url, BASE_URL="https://slotlens.example"), instance_path=str(tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.test_client().get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"


def test_the_onboarding_commands_name_base_url_whatever_host_the_request_gives(tmp_path, database_url, people):
    """A forged Host (or X-Forwarded-Host behind a trusted proxy) must not aim the curl commands elsewhere."""
    app = create_app(app_config(tmp_path, database_url, TRUSTED_PROXIES=1), instance_path=str(tmp_path / "proxied"))
    page = f"/admin/agents/{people['support'].id}"
    for headers in ({"HTTP_HOST": "evil.example"}, {"HTTP_X_FORWARDED_HOST": "evil.example"}):
        client = app.test_client()
        client.environ_base.update(headers)  # every request of this browser, the log-in too
        Auth(client).login("admin@example.com")
        html = client.get(page).get_data(as_text=True)
        assert "Send its data" in html, headers
        assert "curl -sS -X POST http://slotlens.test/api/v1/events" in html, headers
        assert "curl -sS -X PUT http://slotlens.test/api/v1/slots" in html, headers
        assert "evil.example" not in html, headers


def test_revoking_a_grant_stops_downloads_of_reports_already_sent(app, world):
    analyst = client_as(app, "analyst")
    link = f"/exports/download/{world['tokens']['analyst@example.com']}"
    before = analyst.get(link)
    assert before.status_code == 200
    before.close()
    assert "Download" in analyst.get("/exports").get_data(as_text=True)
    with app.app_context():
        Grant.delete().execute()
    refused = analyst.get(link)
    assert refused.status_code == 403 and "You no longer have access to this agent" in refused.get_data(as_text=True)
    page = analyst.get("/exports").get_data(as_text=True)
    assert "Download" not in page and "Send again" not in page


def test_templates_have_no_inline_script():
    import pathlib

    for template in pathlib.Path("templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"\son[a-z]+=", text), template


def test_download_tokens_are_long_signed_and_bound(app, world):
    token = world["tokens"]["analyst@example.com"]
    signature = token.rsplit(".", 1)[1]
    assert len(signature) * 6 >= 256  # HMAC-SHA256, base64
    analyst = client_as(app, "analyst")
    for bad in (token[:-1], token + "A", token.replace(".", ".x", 1), "../../etc/passwd", "%2e%2e%2fslotlens.db", "a" * 5000):
        assert analyst.get(f"/exports/download/{bad}").status_code == 404, bad


def test_only_the_canonical_download_path_answers(app, world):
    token = world["tokens"]["analyst@example.com"]
    analyst = client_as(app, "analyst")
    for variant in (f"/exports//download/{token}", f"/exports/%64ownload/{token}", f"/exports/download/%65{token[1:]}",
                    f"/exports/download/{token.replace('.', '%2E')}", f"/exports//download/{token}/xlsx"):
        answer = analyst.get(variant)
        assert answer.status_code == 404 and token not in answer.headers.get("Location", ""), variant
    served = analyst.get(f"/exports/download/{token}")
    assert served.status_code == 200
    served.close()


def test_a_download_that_fails_logs_its_path_without_the_token(app, world, monkeypatch, caplog):
    token = world["tokens"]["analyst@example.com"]
    analyst = client_as(app, "analyst")
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: Flask logs "Exception on <path>"

    def broken(token):
        raise RuntimeError("the reports folder vanished")

    monkeypatch.setattr(links, "item_for_token", broken)
    assert analyst.get(f"/exports/download/{token}").status_code == 500
    logged = [record.getMessage() for record in caplog.records]
    assert "Exception on /exports/download/<token> [GET]" in logged
    assert not any(token.split(".")[1] in line for line in logged)


def test_download_tokens_are_redacted_by_their_shape():
    from urllib.parse import quote

    from webguard.redaction import redact

    token = "eyJpdGVtIjoxMiwiYWNjb3VudCI6M30._hHqaRNEOlWo3J1o0qXm9WTgHeeHq_hlQq7UGP8rON0"
    for carrier in (f"GET /exports/download/{token} HTTP/1.1", f"/exports//download/{token}/xlsx",
                    f"/exports/%64ownload/{token}", f"/exports/download/%65%79%4a{token[3:]}",
                    f"/exports/download/%2565{token[1:]}", f"/exports/download/{token.replace('.', '%2E')}",
                    "/login?next=" + quote(f"/exports/download/{token}", safe=""),
                    "https://slotlens.example/login?next=" + quote(quote(f"/exports/download/{token}", safe=""), safe="")):
        redacted = redact(carrier)
        assert "<token>" in redacted and token.split(".")[1][:8] not in redacted and "pdGVtIjox" not in redacted, carrier
    for harmless in ("/static/app.css", "/exports/12/again", "/admin/agents/3", "GET /login?next=%2Fanalytics HTTP/1.1"):
        assert redact(harmless) == harmless
    timed = "eyJhY2NvdW50IjoyLCJwYXNzd29yZCI6ImZlZWI5MzcxYWEzMDU4ZGUifQ.axHNtQ.8qtXJutYd7gBnmbkbwq-Cd_Z2u51lIGvDUMj8-rHzJg"
    for carrier in (f"POST /login/reset/{timed} HTTP/1.1", f"/login/join/{timed.replace('.', '%2E')}",
                    "https://slotlens.example/login/reset/" + quote(timed, safe="")):
        assert redact(carrier).endswith(("/<token>", "/<token> HTTP/1.1")) and "axHNtQ" not in redact(carrier), carrier


def test_report_files_are_served_only_through_their_signed_link(app, world, tmp_path):
    analyst = client_as(app, "analyst")
    with app.app_context():
        item = ExportItem.select().join(ExportRequest).join(Account).where(Account.email == "analyst@example.com").get()
        path = links.report_path(item)
    download = analyst.get(f"/exports/download/{world['tokens']['analyst@example.com']}")
    assert download.status_code == 200, "the file is there"
    download.close()
    beside_static = os.path.relpath(path, app.static_folder)
    for guess in (beside_static, beside_static.replace("/", "%2f"), beside_static.replace("..", "%2e%2e")):
        assert analyst.get(f"/static/{guess}").status_code == 404, guess
    with pytest.raises(ConfigError, match="FLASK_REPORTS_DIR must not be inside the static folder"):
        create_app(app_config(tmp_path, app.config["DATABASE_URL"], REPORTS_DIR=os.path.join(app.static_folder, "r")))


def test_login_is_throttled_per_account_and_address(app, people):
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert "Wrong email or password." in Auth(client).login("analyst@example.com", "wrong").get_data(as_text=True)
    locked = Auth(client).login("analyst@example.com", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed log-ins. Try again in 15 minutes." in locked.get_data(as_text=True)
    elsewhere = app.test_client()
    response = elsewhere.post(
        "/login",
        data={"email": "analyst@example.com", "password": PASSWORD, "csrf_token": csrf_token(elsewhere)},
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert response.status_code == 302, "another address is not locked out"
    for failure in LoginFailure.select():
        LoginFailure.update(at=failure.at - timedelta(minutes=16)).where(LoginFailure.id == failure.id).execute()
    assert Auth(client).login("analyst@example.com").status_code == 302, "the lockout ends"


def test_login_is_throttled_per_account_across_addresses(app, people):
    app.config["LOGIN_MAX_FAILURES"] = 2
    client = app.test_client()

    def attempt(address, password):
        return client.post(
            "/login",
            data={"email": "analyst@example.com", "password": password, "csrf_token": csrf_token(client)},
            environ_base={"REMOTE_ADDR": address},
        )

    for n in range(10):  # five times the limit, each from an address of its own
        assert "Wrong email or password." in attempt(f"10.0.0.{n}", "wrong guess!").get_data(as_text=True)
    assert attempt("10.0.1.1", PASSWORD).status_code == 429, "a new address does not reopen the account"


def admin_login_attempt(client, address, password):
    """The admin's log-in from `address`, in `client`'s browser."""
    return client.post(
        "/login",
        data={"email": "admin@example.com", "password": password, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_strangers_cannot_lock_the_owner_out_of_a_browser_that_logged_in_before(app, people):
    """OWASP's device cookie: 50 wrong passwords from 5 addresses lock the account for
    everyone else, not for the browser its owner logged in from before."""

    owners_browser = app.test_client()
    assert admin_login_attempt(owners_browser, "192.0.2.1", PASSWORD).status_code == 302
    post(owners_browser, "/logout", {})
    cookie = owners_browser.get_cookie("slotlens_device", path="/login")
    assert cookie.http_only and cookie.value.count(".") == 2, "signed (itsdangerous), for the login page only"
    strangers = app.test_client()
    for n in range(5 * app.config["LOGIN_MAX_FAILURES"]):
        assert "Wrong email or password." in admin_login_attempt(strangers, f"203.0.113.{n % 5}", "wrong guess!").get_data(as_text=True)
    assert admin_login_attempt(app.test_client(), "198.51.100.7", PASSWORD).status_code == 429, "the account is locked"
    assert admin_login_attempt(owners_browser, "198.51.100.8", PASSWORD).status_code == 302, "not for the owner's browser"

    post(owners_browser, "/logout", {})
    forged = app.test_client()
    forged.set_cookie("slotlens_device", cookie.value[:-2] + "xx", path="/login")
    assert admin_login_attempt(forged, "198.51.100.9", PASSWORD).status_code == 429, "a tampered cookie is no cookie"
    analysts = app.test_client()
    assert Auth(analysts).login("analyst@example.com").status_code == 302
    assert admin_login_attempt(analysts, "198.51.100.10", PASSWORD).status_code == 429, "another account's cookie does not count"

    stolen = app.test_client()
    stolen.set_cookie("slotlens_device", owners_browser.get_cookie("slotlens_device", path="/login").value, path="/login")
    for n in range(app.config["LOGIN_MAX_FAILURES"]):  # from as many addresses: each pair stays under its limit
        assert admin_login_attempt(stolen, f"198.51.100.{20 + n}", "wrong guess!").status_code == 200
    assert admin_login_attempt(owners_browser, "198.51.100.8", PASSWORD).status_code == 429, "a device that guesses is held too"


def test_a_new_password_revokes_every_device_cookie(app, people):
    """Whoever logged in with the old password (perhaps a thief) keeps no way past the lockout."""

    thiefs_browser = app.test_client()
    assert admin_login_attempt(thiefs_browser, "192.0.2.1", PASSWORD).status_code == 302
    post(thiefs_browser, "/logout", {})
    with app.app_context():
        owner = Account.get(Account.email == "admin@example.com")
        passwords.assign(owner, "a brand new passphrase")
        owner.save(only=[Account.password_hash])
    strangers = app.test_client()
    for n in range(5 * app.config["LOGIN_MAX_FAILURES"]):
        admin_login_attempt(strangers, f"203.0.113.{n % 5}", "wrong guess!")
    assert admin_login_attempt(thiefs_browser, "198.51.100.8", "a brand new passphrase").status_code == 429


def test_logout_clears_the_session(client, people):
    Auth(client).login("analyst@example.com")
    with client.session_transaction() as session:
        assert session["account_id"]
    post(client, "/logout", {})
    with client.session_transaction() as session:
        assert "account_id" not in session


def test_rotate_key(app, runner, people):
    result = runner.invoke(args=["rotate-key", "Support Bot"])
    assert result.exit_code == 0 and "the old key no longer works" in result.output
    new_key = result.output.strip().rsplit(" ", 1)[1]
    client = app.test_client()
    assert client.post("/api/v1/events", json=[], headers={"Authorization": f"Bearer {people['support_key']}"}).status_code == 401
    assert client.post("/api/v1/events", json=[], headers={"Authorization": f"Bearer {new_key}"}).status_code == 200
    with app.app_context():
        assert api_keys.agent_for(new_key).name == "Support Bot"


TOKEN = "eyJpdGVtIjoxLCJhY2NvdW50IjoyfQ.Zx9-abc_DEF123Zx9-abc_DEF123Zx9-abc_DEF123Zx9"  # a real one's shape


@pytest.mark.e2e
@pytest.mark.parametrize("server", ["gunicorn, as the container runs it", "the development server of make run"])
def test_download_tokens_never_reach_the_request_log(tmp_path, server):
    stack = Stack(tmp_path, free_port())
    if server.startswith("gunicorn"):
        stack.start_entrypoint("web")
        log = tmp_path / "container.log"
    else:
        stack.cli("init-db")
        stack.start_web()
        log = tmp_path / "web.log"
    paths = [f"/exports/download/{TOKEN}", f"/exports//download/{TOKEN}", f"/exports/%64ownload/{TOKEN}",
             f"/exports/download/%65{TOKEN[1:]}"]
    try:
        for path in paths:
            link = stack.base_url + path
            request = urllib.request.Request(link, headers={"Referer": link})  # as the 410 and log-in pages cause
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10)
        wait_for(lambda: log.read_text().count("<token>") >= 2 * len(paths), what="the requests in the log")
    finally:
        stack.stop()
    text = log.read_text()
    payload, signature = TOKEN.split(".")
    assert payload[3:] not in text and signature not in text
    assert "/exports/download/<token>" in text and "/exports//download/<token>" in text


@pytest.mark.e2e
def test_concurrent_guesses_never_check_more_passwords_than_the_limit(tmp_path, backend):
    stack = Stack(tmp_path, free_port(), **backend)
    stack.cli("init-db")
    stack.cli("create-user", "victim@example.com", "--password", ANALYST_PASSWORD)
    stack.start_gunicorn(workers=3, threads=4)
    try:
        attacker = Browserless(stack.base_url)
        guess = {"email": "victim@example.com", "password": "a wrong guess"}
        statuses = [status for status, _ in attacker.post_at_once("/login", "/login", guess, times=40)]
    finally:
        stack.stop()
    assert sorted(statuses) == [200] * 10 + [429] * 30, "ten passwords checked, thirty refused before any check"
    assert stack.query("SELECT COUNT(*) FROM login_failure") == [(10,)]
