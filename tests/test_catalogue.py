"""An agent's name and slot catalogue, edited on its page: slots renamed one by one or
by a file, and the agent renamed, archived and restored."""
import io
import json
from datetime import date, datetime, timedelta

import pytest

from ingest import rules, writer
from models import Account, Slot, Subscription, SubscriptionRun, utcnow
from subscriptions import sweep
from tests.conftest import csrf_token

TODAY = date.today()


@pytest.fixture
def agent(app, people):
    """Support Bot with an imported-looking slot (named by its key) and two dialogs that reached it."""
    when = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=12)
    with app.app_context():
        writer.ingest_events(people["support"], [rules.EventIn(f"d{i}", "web", "user", "ask_order", "hi", when) for i in range(2)])
    return people["support"]


def agent_post(auth, agent, path, data=None, **kwargs):
    """POST to the agent page's form at `path`; the page it comes back to, as text."""
    client = auth.client
    response = client.post(f"/admin/agents/{agent.id}{path}", data={**(data or {}), "csrf_token": csrf_token(client, f"/admin/agents/{agent.id}")},
                           follow_redirects=True, **kwargs)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_slot_renamed_on_the_agent_page_shows_in_every_report_at_once(app, client, auth, agent):
    auth.login()
    page = client.get(f"/admin/agents/{agent.id}").get_data(as_text=True)
    assert "<td><code>ask_order</code></td><td>ask_order</td>" in page, "an imported slot is named by its key"
    assert f"<td>{TODAY.isoformat()}</td><td>{TODAY.isoformat()}</td>" in page, "first and last seen"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    russian = client.get(f"/admin/agents/{agent.id}").get_data(as_text=True)
    assert f"<td>{TODAY:%d.%m.%Y}</td><td>{TODAY:%d.%m.%Y}</td>" in russian, "as the language writes dates"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    with app.app_context():
        slot = Slot.get(Slot.key == "ask_order")
    refused = client.post(f"/admin/agents/{agent.id}/slots/{slot.id}", data={"name": " ", "type": "question", "text": "",
                          "csrf_token": csrf_token(client, f"/admin/agents/{agent.id}/slots/{slot.id}")})
    assert refused.status_code == 400 and "A slot needs a name." in refused.get_data(as_text=True)
    saved = agent_post(auth, agent, f"/slots/{slot.id}", {"name": "Ask order number", "type": "question", "text": "Your order number?"})
    assert "Slot ask_order saved" in saved and "<td>Ask order number</td>" in saved
    for view in ("stop-slots", "slot-funnel", "slot-paths"):
        assert "Ask order number" in client.get(f"/analytics?agents={agent.id}&view={view}").get_data(as_text=True), view
    with app.app_context():
        assert (Slot.get_by_id(slot.id).type, Slot.get_by_id(slot.id).text) == ("question", "Your order number?")


def test_the_catalogue_goes_out_and_comes_back_as_csv_or_json(app, client, auth, agent):
    auth.login()
    csv_text = client.get(f"/admin/agents/{agent.id}/slots.csv").get_data(as_text=True)
    assert csv_text.startswith("\ufeff"), "Excel reads UTF-8 with a BOM only"
    csv_text = csv_text[1:]
    assert csv_text.splitlines() == ["key,name,type,text", "ask_order,ask_order,unknown,"]
    edited = csv_text.replace("ask_order,ask_order,unknown,", 'ask_order,"Ask order, please",question,"Your ""order"" number?"') + "bye;x\n"
    bad = agent_post(auth, agent, "/slots/upload", {"catalogue": (io.BytesIO(edited.encode()), "slots.csv")}, content_type="multipart/form-data")
    assert "Nothing was changed. Row 3 (key “bye;x”), name: must not be empty." in bad and "<td>ask_order</td>" in bad
    edited = edited.replace("bye;x\n", "bye,Goodbye,message,\n")
    good = agent_post(auth, agent, "/slots/upload", {"catalogue": (io.BytesIO(("\ufeff" + edited).encode()), "slots.csv")},
                      content_type="multipart/form-data")
    assert "Slots uploaded" in good
    entries = json.loads(client.get(f"/admin/agents/{agent.id}/slots.json").get_data(as_text=True))
    assert entries == [{"key": "ask_order", "name": "Ask order, please", "type": "question", "text": 'Your "order" number?'},
                       {"key": "bye", "name": "Goodbye", "type": "message", "text": ""}]
    entries[1]["name"] = "Bye"
    entries[0]["name"] = "=Refund policy"  # a spreadsheet would run it: the CSV guards it, and the guard comes off again
    agent_post(auth, agent, "/slots/upload", {"catalogue": (io.BytesIO(json.dumps(entries[:1]).encode()), "slots.json")},
               content_type="multipart/form-data")
    guarded = client.get(f"/admin/agents/{agent.id}/slots.csv").get_data(as_text=True)
    assert "ask_order,'=Refund policy,question" in guarded
    agent_post(auth, agent, "/slots/upload", {"catalogue": (io.BytesIO(guarded.encode()), "slots.csv")}, content_type="multipart/form-data")
    with app.app_context():
        assert Slot.get(Slot.key == "ask_order").name == "=Refund policy"
    entries[0]["name"] = "Ask order, please"
    agent_post(auth, agent, "/slots/upload", {"catalogue": (io.BytesIO(json.dumps(entries[:1]).encode()), "slots.json")},
               content_type="multipart/form-data")
    agent_post(auth, agent, "/slots/upload", {"catalogue": (io.BytesIO(json.dumps(entries[1:]).encode()), "slots.json")},
               content_type="multipart/form-data")
    with app.app_context():
        assert [(s.key, s.name) for s in Slot.select().order_by(Slot.key)] == [("ask_order", "Ask order, please"), ("bye", "Bye")]
    for upload, message in [((io.BytesIO(b"slot,label\nx,y\n"), "a.csv"), "missing: key, name, type"),
                            ((io.BytesIO(b"[{"), "a.json"), "not valid JSON"), ((io.BytesIO(b"\xff\xfe"), "a.csv"), "not UTF-8")]:
        assert message in agent_post(auth, agent, "/slots/upload", {"catalogue": upload}, content_type="multipart/form-data"), message


def test_an_archived_agent_disappears_keeps_its_data_and_comes_back(app, client, auth, agent, people, subscription_of):
    auth.login()
    assert "Not renamed: another agent has this name." in agent_post(auth, agent, "/rename", {"name": "Sales Bot"})
    assert "Renamed to Help Bot." in agent_post(auth, agent, "/rename", {"name": "Help Bot"})
    assert "Help Bot</label>" in client.get("/analytics").get_data(as_text=True)
    agent_post(auth, agent, "/archive")
    assert "Help Bot</label>" not in client.get("/analytics").get_data(as_text=True)
    assert client.get(f"/analytics?agents={agent.id}").get_data(as_text=True).count("An agent picked is not one you can see") == 1
    refused = client.put("/api/v1/slots", json=[], headers={"Authorization": f"Bearer {people['support_key']}"})
    assert refused.status_code == 403 and "archived" in refused.get_data(as_text=True)
    with app.app_context():
        run = subscription_of(agent)
        assert "no longer visible" in run.note and "Help Bot" in run.note
    assert "(archived)" in client.get("/admin/").get_data(as_text=True)
    agent_post(auth, agent, "/restore")
    assert "2 counted dialogs" in client.get(f"/analytics?agents={agent.id}").get_data(as_text=True)
    assert client.put("/api/v1/slots", json=[], headers={"Authorization": f"Bearer {people['support_key']}"}).status_code == 200


@pytest.fixture
def subscription_of():
    """The run a daily subscription of the analyst's to `agent` makes when due now."""

    def run_for(agent):
        analyst = Account.get(Account.email == "analyst@example.com")
        Subscription.create(account=analyst, kinds='["stop-slots"]', agents=json.dumps([agent.id]), frequency="daily", at="00:00",
                            starts_at=datetime(2000, 1, 1), created_at=datetime(2000, 1, 1))
        sweep.deliver_due(utcnow(), "UTC", 60)
        return SubscriptionRun.get()

    return run_for
