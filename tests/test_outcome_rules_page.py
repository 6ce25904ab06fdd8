"""Admin → agent → Outcomes (issue 29): the agent's outcome rules edited in the browser,
with or without JavaScript; Check counts what they would match before Save puts them
in force and has every dialog recomputed."""
import random
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from playwright.sync_api import expect

from ingest import writer
from ingest.rules import EventIn
from models import Agent, Dialog, Slot, utcnow
from outcomes import evaluation
from outcomes import rules as outcome_rules
from reporting.localtime import format_local

from .conftest import Auth, csrf_token
from .test_ui import ADMIN_PASSWORD, browser, logged_in, serious_violations, site  # noqa: F401 (fixtures)

SLOTS = [  # key, name, type
    ("greet", "Greeting", "message"),
    ("ask", "Ask order", "question"),
    ("human", "To a person", "handover"),
    ("operator", "Operator", "handover"),
    ("thanks", "Thanks", "message"),
    ("done", "Order placed", "message"),
    ("fallback", "Sorry?", "fallback"),
]
TYPES = {key: slot_type for key, _, slot_type in SLOTS}
RULES = [  # as a YAML file has them; dialogs match several, so the order decides
    {"outcome": "Escalated", "reaches_type": "handover"},
    {"outcome": "Completed", "ends_at": ["thanks", "done"]},
    {"outcome": "Failed", "shows": "fallback", "times": 2},
    {"outcome": "Completed", "reaches": "ask"},
]


class RulesForm(HTMLParser):
    """The Outcomes form's fields as a browser without JavaScript sends them (name ->
    values), buttons aside."""

    def __init__(self, html):
        super().__init__()
        self.fields, self.inside, self.select, self.option = {}, False, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = "outcome-rules" in (attrs.get("class") or "")
        elif self.inside and tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = [attrs.get("value") or ""]
        elif self.inside and tag == "select":
            self.select = (attrs["name"], "multiple" in attrs, [])
        elif self.select and tag == "option":
            self.option = [attrs.get("value"), "selected" in attrs, ""]

    def handle_data(self, data):
        if self.option:
            self.option[2] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "option" and self.option:
            value, selected, text = self.option
            self.select[2].append((text if value is None else value, selected))
            self.option = None
        elif tag == "select" and self.select:
            name, multiple, options = self.select
            chosen = [value for value, selected in options if selected]
            self.fields[name] = chosen if multiple else (chosen[:1] or [options[0][0]])
            self.select = None


@pytest.fixture
def shop(app, auth, people):
    """Support Bot with a shop's script, and the admin logged in."""
    Slot.insert_many([dict(agent=people["support"].id, key=key, name=name, type=slot_type) for key, name, slot_type in SLOTS]).execute()
    auth.login("admin@example.com")
    return Agent.get_by_id(people["support"].id)


def page_of(agent):
    return f"/admin/agents/{agent.id}"


def submit(client, agent, fields, action):
    """Click a button of the Outcomes form, its fields as given."""
    return client.post(f"{page_of(agent)}/outcomes", data={**fields, "action": action, "csrf_token": csrf_token(client, page_of(agent))})


def fields_of(response):
    return RulesForm(response.get_data(as_text=True)).fields


def rows(*rules):
    """Form fields for rules given as (outcome, condition, slots, type, times)."""
    fields = {}
    for n, (outcome, condition, slots, slot_type, times) in enumerate(rules):
        fields.update({f"rule-{n}-outcome": outcome, f"rule-{n}-condition": condition, f"rule-{n}-slots": slots,
                       f"rule-{n}-type": slot_type, f"rule-{n}-times": times})
    return fields


def stored(agent):
    return [rule.as_dict() for rule in evaluation.stored_rules(agent.id)]


def in_force(html):
    found = re.search(r'<ol id="rules-in-force">(.*?)</ol>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def test_rules_are_added_edited_moved_and_deleted_without_javascript(app, client, shop):
    response = client.get(page_of(shop))
    assert "None: every counted dialog is Abandoned or In progress." in response.get_data(as_text=True)
    fields = fields_of(response)
    for outcome, condition, choice in [("Escalated", "reaches_type", {"type": ["handover"]}),
                                       ("Completed", "ends_at", {"slots": ["thanks", "done"]}),
                                       ("Failed", "shows", {"slots": ["fallback"], "times": ["2"]})]:
        response = submit(client, shop, fields, "add")
        assert response.status_code == 200, "a new row, nothing saved"
        fields = fields_of(response)
        n = sum(1 for name in fields if name.endswith("-outcome")) - 1
        fields.update({f"rule-{n}-outcome": [outcome], f"rule-{n}-condition": [condition]})
        fields.update({f"rule-{n}-{name}": value for name, value in choice.items()})
    assert stored(shop) == [], "not saved before Save rules"
    assert "Not saved yet" in submit(client, shop, fields, "check").get_data(as_text=True)

    response = submit(client, shop, fields, "save")
    assert response.status_code == 302 and response.location.endswith(f"{page_of(shop)}#outcomes")
    assert stored(shop) == [{"outcome": "Escalated", "reaches_type": "handover"},
                            {"outcome": "Completed", "ends_at": ["done", "thanks"]},  # as the list shows them, by name
                            {"outcome": "Failed", "shows": "fallback", "times": 2}]
    html = client.get(page_of(shop)).get_data(as_text=True)
    assert "Saved 3 outcome rules for Support Bot." in html
    assert in_force(html) == ["Escalated when the dialog reaches a slot of type handover",
                              "Completed when the dialog ends at Order placed or Thanks",
                              "Failed when the dialog shows Sorry? at least 2 times"]
    assert "Not saved yet" not in html

    fields = fields_of(client.get(page_of(shop)))  # the stored rules, ready to edit
    fields = fields_of(submit(client, shop, fields, "down-0"))
    assert [fields[f"rule-{n}-outcome"] for n in range(3)] == [["Completed"], ["Escalated"], ["Failed"]]
    fields = fields_of(submit(client, shop, fields, "up-2"))
    assert [fields[f"rule-{n}-outcome"] for n in range(3)] == [["Completed"], ["Failed"], ["Escalated"]]
    fields = fields_of(submit(client, shop, fields, "delete-0"))
    assert [fields[f"rule-{n}-outcome"] for n in range(2)] == [["Failed"], ["Escalated"]] and "rule-2-outcome" not in fields
    fields.update({"rule-0-condition": ["reaches"], "rule-0-slots": ["fallback", "ask"]})
    assert len(stored(shop)) == 3, "moving and deleting change the draft only"
    assert submit(client, shop, fields, "save").status_code == 302
    assert stored(shop) == [{"outcome": "Failed", "reaches": ["fallback", "ask"]},
                            {"outcome": "Escalated", "reaches_type": "handover"}]
    assert in_force(client.get(page_of(shop)).get_data(as_text=True)) == [
        "Failed when the dialog reaches Sorry? or Ask order", "Escalated when the dialog reaches a slot of type handover"]

    fields = fields_of(submit(client, shop, fields_of(client.get(page_of(shop))), "delete-0"))
    fields = fields_of(submit(client, shop, fields, "delete-0"))
    assert submit(client, shop, fields, "save").status_code == 302
    assert stored(shop) == [], "every rule can go"


@pytest.mark.parametrize("bad_rule, message", [
    (("Completed", "ends_at", ["nope"], "", "1"), "rule 2: the agent has no slot &#39;nope&#39;"),
    (("Failed", "shows", ["fallback"], "", "0"), "rule 2: times must be a whole number, 1 or more, not 0"),
    (("Failed", "", ["thanks"], "", "1"), "rule 2: give exactly one condition: reaches, ends_at, reaches_type or shows"),
])
@pytest.mark.parametrize("action", ["save", "check"])
def test_bad_rules_are_refused_whole_with_the_rule_named_and_the_old_ones_stay(app, client, shop, bad_rule, message, action):
    assert submit(client, shop, rows(("Completed", "ends_at", ["thanks"], "", "1")), "save").status_code == 302
    version = Agent.get_by_id(shop.id).outcome_rules_version
    response = submit(client, shop, rows(("Escalated", "reaches", ["human"], "", "1"), bad_rule), action)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert "Nothing was saved: the rules in force stay as they were." in html
    assert 'id="outcome-check"' not in html, "no counts for rules that cannot be used"
    assert stored(shop) == [{"outcome": "Completed", "ends_at": "thanks"}]
    assert Agent.get_by_id(shop.id).outcome_rules_version == version
    assert in_force(html) == ["Completed when the dialog ends at Thanks"]
    assert fields_of(response)["rule-1-condition"] == [bad_rule[1]], "the draft stays on the page to be fixed"


def test_every_mistake_is_named(app, client, shop):
    response = submit(client, shop, rows(("Escalated", "reaches_type", [], "", "1"), ("Failed", "shows", ["thanks", "done"], "", "x")), "save")
    html = response.get_data(as_text=True)
    assert "rule 1: reaches_type takes a slot type, such as handover" in html
    assert "rule 2: shows takes one slot key" in html


def test_only_admins_may_change_rules_and_only_with_the_pages_token(app, client, shop):
    before = Agent.get_by_id(shop.id).outcome_rules_version
    response = client.post(f"{page_of(shop)}/outcomes", data={**rows(("Completed", "ends_at", ["thanks"], "", "1")), "action": "save"})
    assert response.status_code == 400, "no CSRF token"
    analyst = Auth(app.test_client())
    analyst.login("analyst@example.com")
    assert analyst.client.get(page_of(shop)).status_code == 403
    response = analyst.post(f"{page_of(shop)}/outcomes", {**rows(("Completed", "ends_at", ["thanks"], "", "1")), "action": "save"})
    assert response.status_code == 403
    assert Agent.get_by_id(shop.id).outcome_rules_version == before and stored(shop) == []


def made_up_dialogs(agent, count=120, seed=29):
    """Dialogs along random paths, started up to 45 days ago, a fifth never counted (no
    user event): external id -> (path of slot keys, start, counted)."""
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    dialogs, events = {}, []
    for n in range(count):
        path = rng.choices([key for key, _, _ in SLOTS], weights=[4, 3, 1, 1, 2, 2, 4], k=rng.randint(1, 6))
        started = now - timedelta(days=rng.choice([rng.uniform(0.01, 29), rng.uniform(31, 45)]))  # none at the edge
        counted = rng.random() < 0.8
        events += [EventIn(f"d{n}", "web", "bot", key, None, started + timedelta(seconds=10 * i)) for i, key in enumerate(path)]
        if counted:
            events.append(EventIn(f"d{n}", "web", "user", None, None, started + timedelta(seconds=5)))
        dialogs[f"d{n}"] = (path, started, counted)
    writer.ingest_events(agent, events)
    return dialogs


def first_rule(path, rules):
    """The index of the first rule (YAML form) the dialog's path matches, or None: the oracle."""
    def keys(value):
        return [value] if isinstance(value, str) else value

    for index, rule in enumerate(rules):
        if ("reaches" in rule and set(keys(rule["reaches"])) & set(path)
                or "ends_at" in rule and path[-1] in keys(rule["ends_at"])
                or "reaches_type" in rule and any(TYPES[key] == rule["reaches_type"] for key in path)
                or "shows" in rule and path.count(rule["shows"]) >= rule["times"]):
            return index
    return None


def as_fields(rules):
    """Form fields for rules as a YAML file has them."""
    found = []
    for rule in rules:
        condition = next(name for name in outcome_rules.CONDITIONS if name in rule)
        value = rule[condition]
        slots = [] if condition == "reaches_type" else [value] if isinstance(value, str) else value
        found.append((rule["outcome"], condition, slots, value if condition == "reaches_type" else "", str(rule.get("times", 1))))
    return rows(*found)


def test_check_counts_what_each_rule_would_take_first_without_saving(app, client, shop):
    dialogs = made_up_dialogs(shop)
    recent = [path for path, started, counted in dialogs.values() if counted and started >= utcnow() - timedelta(days=30)]
    expected = [0] * len(RULES)
    unmatched = 0
    for path in recent:
        index = first_rule(path, RULES)
        if index is None:
            unmatched += 1
        else:
            expected[index] += 1
    naive = [sum(1 for path in recent if first_rule(path, [rule]) == 0) for rule in RULES]
    assert naive != expected and all(expected) and unmatched, "the made-up dialogs tell first-match from any-match"

    response = submit(client, shop, as_fields(RULES), "check")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    counts = [int(re.search(rf'id="check-rule-{n}">([\d,]+)<', html).group(1)) for n in range(1, len(RULES) + 1)]
    assert counts == expected
    assert int(re.search(r'id="check-unmatched">([\d,]+)<', html).group(1)) == unmatched
    assert f"among the {len(recent)} counted dialogs of the last 30 days" in html
    assert "1. Escalated when the dialog reaches a slot of type handover" in html
    assert stored(shop) == [] and Agent.get_by_id(shop.id).outcome_rules_version == 0, "Check saves nothing"
    assert "Not saved yet" in html
    html = submit(client, shop, {}, "check").get_data(as_text=True)
    assert int(re.search(r'id="check-unmatched">([\d,]+)<', html).group(1)) == len(recent), "no rules: none taken"


def test_saving_recomputes_every_dialog_and_the_page_follows_the_recomputation(app, client, shop):
    dialogs = made_up_dialogs(shop)
    assert Dialog.select().where(Dialog.outcome.is_null(False)).count() == 0, "no rules, no outcomes"
    assert submit(client, shop, as_fields(RULES), "save").status_code == 302  # QUEUE_IMMEDIATE: the task runs now
    outcomes = dict(Dialog.select(Dialog.external_id, Dialog.outcome).where(Dialog.agent == shop.id).tuples())
    labels = {label: key for key, label in outcome_rules.OUTCOMES.items()}
    for external_id, (path, _, _) in dialogs.items():
        index = first_rule(path, RULES)
        assert outcomes[external_id] == (None if index is None else labels[RULES[index]["outcome"]]), external_id
    agent = Agent.get_by_id(shop.id)
    assert agent.outcomes_done_to is None and agent.outcomes_as_of is not None
    html = client.get(page_of(shop)).get_data(as_text=True)
    assert f"Outcomes as of {format_local(agent.outcomes_as_of, app.config['TIMEZONE'])}." in html
    assert "<progress" not in html

    ids = [pk for (pk,) in Dialog.select(Dialog.id).where(Dialog.agent == shop.id).order_by(Dialog.id).tuples()]
    Agent.update(outcomes_done_to=ids[48], outcomes_as_of=None).where(Agent.id == shop.id).execute()  # a worker midway
    html = client.get(page_of(shop)).get_data(as_text=True)
    assert f"Recomputing outcomes: {100 * 49 // len(ids)}% of {len(ids):,} dialogs" in html
    assert re.search(rf'<progress id="outcomes-progress" max="{len(ids)}" value="49">', html)
    assert "Outcomes as of" not in html


def test_a_recomputation_that_ends_while_the_page_is_made_shows_its_time(app, client, shop):
    """The agent is read when the request starts; the worker may finish before its
    progress is read. The page then says when the outcomes are from, not nothing."""
    from blueprints.admin import outcomes_section

    made_up_dialogs(shop)
    Agent.update(outcomes_done_to=0, outcomes_as_of=None).where(Agent.id == shop.id).execute()
    read_at_the_start = Agent.get_by_id(shop.id)
    finished = utcnow().replace(microsecond=0)
    Agent.update(outcomes_done_to=None, outcomes_as_of=finished).where(Agent.id == shop.id).execute()
    with app.test_request_context():
        section = outcomes_section(read_at_the_start)
    assert section["progress"] is None and section["as_of"] == finished


def test_the_page_says_how_to_do_the_same_from_the_command_line(app, client, shop, runner, tmp_path):
    html = client.get(page_of(shop)).get_data(as_text=True)
    assert "flask --app app show-outcomes &#39;Support Bot&#39; &gt; outcomes.yml" in html
    assert "flask --app app set-outcomes &#39;Support Bot&#39; outcomes.yml" in html
    (tmp_path / "outcomes.yml").write_text("- {outcome: Completed, ends_at: thanks}\n")
    assert runner.invoke(args=["set-outcomes", "Support Bot", str(tmp_path / "outcomes.yml")]).exit_code == 0
    assert in_force(client.get(page_of(shop)).get_data(as_text=True)) == ["Completed when the dialog ends at Thanks"]


@pytest.mark.e2e
@pytest.mark.browser
def test_an_admin_writes_checks_and_saves_rules_in_chromium(site, browser):  # noqa: F811 (fixtures)
    stack, _ = site
    stack.api("PUT", "/api/v1/slots", stack.keys["Support Bot"], [{"key": "human", "name": "To a person", "type": "handover"}])
    stack.api("POST", "/api/v1/events", stack.keys["Support Bot"], [  # two dialogs handed to a person
        {"dialog_id": f"h-{n}", "channel": "web", "sender": sender, "slot": slot, "timestamp": utcnow().isoformat() + "+00:00"}
        for n in range(2) for sender, slot in (("user", None), ("bot", "human"))
    ])
    page = logged_in(browser, site, "admin@example.com", ADMIN_PASSWORD)
    page.goto(stack.base_url + "/admin/agents/1")
    section = page.locator("#outcomes")
    section.get_by_role("button", name="Add rule").click()
    rule = section.get_by_role("group", name="Rule 1")
    rule.get_by_label("Outcome").select_option("Escalated")
    rule.get_by_label("When the dialog").select_option(label="reaches a slot of type")
    expect(rule.get_by_label("Slots")).to_be_hidden()  # only the fields the condition uses
    rule.get_by_label("Slot type").select_option("handover")
    section.get_by_role("button", name="Add rule").click()
    rule = section.get_by_role("group", name="Rule 2")
    rule.get_by_label("Outcome").select_option("Completed")
    rule.get_by_label("When the dialog").select_option(label="ends at")
    expect(rule.get_by_label("Slot type")).to_be_hidden()
    rule.get_by_label("Slots").select_option(label="Greeting")
    section.get_by_role("button", name="Check").click()
    check = page.locator("#outcome-check")
    expect(check).to_contain_text("among the 7 counted dialogs of the last 30 days")
    expect(page.locator("#check-rule-1")).to_have_text("2")
    expect(page.locator("#check-rule-2")).to_have_text("3")
    expect(page.locator("#check-unmatched")).to_have_text("2")
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 375, "height": 760})
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Save rules").click()
    page.get_by_text("Saved 2 outcome rules for Support Bot.").wait_for()
    expect(page.locator("#rules-in-force li")).to_have_text(["Escalated when the dialog reaches a slot of type handover",
                                                             "Completed when the dialog ends at Greeting"])
    expect(page.locator("#outcomes-status")).to_contain_text("Outcomes as of", timeout=15_000)  # the worker's, followed live
    assert dict(stack.query("SELECT outcome, COUNT(*) FROM dialog WHERE agent_id = 1 AND is_counted GROUP BY outcome")) == {
        "completed": 3, "escalated": 2, None: 2}
