"""Outcome rules: checked with every mistake named, set and shown from the command
line, applied by ingestion and recomputed when they change; the Outcomes report,
the Outcomes filter on every report, the rates, and a good ending never taken for
a drop-off. The random-stream reference is tests/test_outcomes_property.py."""
import csv
import io
import json
import re
from datetime import date, timedelta

import pytest

from extensions import mail
from ingest import rules as ingest_rules
from ingest import writer
from models import Agent, Dialog, ExportRequest, Subscription, utcnow
from outcomes import evaluation, recompute
from outcomes import rules as outcome_rules
from reporting import dialog_lists, kinds, periods
from reporting.kinds import outcomes as outcomes_kind
from reporting.kinds import slot_funnel, stop_slots
from tests.conftest import make_agent
from tests.test_exports import fetch, link_path

SLOTS = [
    ingest_rules.SlotIn("ask", "Ask order", "question", ""),
    ingest_rules.SlotIn("thanks", "Thanks", "message", ""),
    ingest_rules.SlotIn("human", "Handover", "handover", ""),
    ingest_rules.SlotIn("fallback", "Sorry?", "message", ""),
]
TYPES = {slot.key: slot.type for slot in SLOTS}
RULES = "- {outcome: Escalated, reaches_type: handover}\n- {outcome: Completed, ends_at: thanks}\n- {outcome: Failed, shows: fallback, times: 2}\n"


def dialog(dialog_id, *slots, minutes_ago=120, channel="web"):
    """A counted dialog showing `slots` in order, its last event `minutes_ago` before now."""
    end = utcnow() - timedelta(minutes=minutes_ago)
    events = [ingest_rules.EventIn(dialog_id, channel, "user", None, None, end - timedelta(minutes=len(slots) + 1))]
    for index, slot in enumerate(slots):
        events.append(ingest_rules.EventIn(dialog_id, channel, "bot", slot, None, end - timedelta(minutes=len(slots) - index - 1)))
    return events


# d2 reaches the handover and ends at thanks: the first rule that matches wins (Escalated)
STREAM = [
    *dialog("d1", "ask", "thanks"),
    *dialog("d2", "ask", "human", "thanks"),
    *dialog("d3", "ask", "fallback", "ask", "fallback"),
    *dialog("d4", "ask"),
    *dialog("d5", "ask", minutes_ago=5),
    *dialog("d6", "fallback", "thanks"),
]
EXPECTED = {"d1": "completed", "d2": "escalated", "d3": "failed", "d4": "abandoned", "d5": "in-progress", "d6": "completed"}


@pytest.fixture
def order_bot(app):
    """The agent with its slots, for tests that use the web client (which must not
    share an app context with the test: Flask-WTF keeps the CSRF token in `g`)."""
    with app.app_context():
        agent = make_agent("Order Bot")[0]
        writer.upsert_slots(agent, SLOTS)
    return agent


@pytest.fixture
def agent(app, order_bot):
    with app.app_context():
        yield order_bot


@pytest.fixture
def with_outcomes(app, order_bot):
    """Order Bot with its rules and the dialogs of STREAM."""
    with app.app_context():
        set_rules(order_bot)
        writer.ingest_events(order_bot, STREAM)
    return order_bot


def set_rules(agent, text=RULES):
    version = recompute.save(agent, outcome_rules.from_yaml(text, TYPES))
    recompute.recompute(agent.id, version)


def outcomes_now(agent):
    outcome = evaluation.classified(evaluation.idle_before())
    return dict(Dialog.select(Dialog.external_id, outcome).where(Dialog.agent == agent.id).tuples())


def filters(*outcome_keys):
    today = utcnow().date()
    return periods.Filters((1,), today - timedelta(days=2), today, outcomes=tuple(outcome_keys))


@pytest.mark.parametrize("rules_first", [True, False], ids=["rules-then-events", "events-then-rules"])
def test_each_dialog_gets_the_outcome_of_the_first_matching_rule(agent, rules_first):
    if rules_first:
        set_rules(agent)
    writer.ingest_events(agent, STREAM)
    if not rules_first:
        assert set(outcomes_now(agent).values()) <= {"abandoned", "in-progress"}, "no rules: only the clock"
        set_rules(agent)
    assert outcomes_now(agent) == EXPECTED
    assert Agent.get_by_id(agent.id).outcomes_as_of is not None and recompute.progress(agent) is None


def test_new_events_change_the_outcome_and_the_clock_needs_no_rewrite(agent, app):
    set_rules(agent)
    writer.ingest_events(agent, STREAM)
    writer.ingest_events(agent, [ingest_rules.EventIn("d4", "web", "bot", "thanks", None, utcnow() - timedelta(minutes=60))])
    writer.ingest_events(agent, [ingest_rules.EventIn("d1", "web", "bot", "human", None, utcnow() - timedelta(hours=3))])  # out of order
    found = outcomes_now(agent)
    assert (found["d4"], found["d1"]) == ("completed", "escalated")
    app.config["OUTCOME_IDLE_MINUTES"] = 3
    assert outcomes_now(agent)["d5"] == "abandoned"


def test_changed_rules_recompute_history_and_an_older_version_stops(agent):
    writer.ingest_events(agent, STREAM)
    old = recompute.save(agent, outcome_rules.from_yaml(RULES, TYPES))
    new = recompute.save(agent, outcome_rules.from_yaml("- {outcome: Failed, reaches: ask}\n", TYPES))
    assert recompute.recompute_batch(agent.id, old) is False, "a task for replaced rules does nothing"
    assert recompute.progress(agent).done == 0
    recompute.recompute(agent.id, new)
    assert set(outcomes_now(agent).values()) == {"failed", "abandoned"}  # d6 never reached ask
    recompute.recompute(agent.id, recompute.save(agent, []))
    assert set(outcomes_now(agent).values()) == {"abandoned", "in-progress"}, "no rules: every outcome cleared"


def test_recomputation_reports_progress_and_a_report_waits_for_it(agent, monkeypatch):
    writer.ingest_events(agent, STREAM)
    monkeypatch.setattr(recompute, "BATCH", 2)
    version = recompute.save(agent, outcome_rules.from_yaml(RULES, TYPES))
    recompute.recompute_batch(agent.id, version)
    progress = recompute.progress(agent)
    assert (progress.done, progress.total, progress.percent) == (2, 6, 33)
    recompute.finish(agent.id)
    assert recompute.progress(agent) is None and outcomes_now(agent) == EXPECTED


@pytest.mark.parametrize("text, messages", [
    ("- {outcome: Done, reaches: ask}", ["line 1: unknown outcome 'Done': use Completed, Escalated or Failed"]),
    ("- {outcome: Abandoned, reaches: ask}", ["line 1: unknown outcome 'Abandoned': use Completed, Escalated or Failed"
                                              " (a dialog no rule matches is Abandoned or In progress by itself)"]),
    ("- {outcome: Completed, reaches: nope}", ["line 1: the agent has no slot 'nope'"]),
    ("- {outcome: Completed, ends_at: [thanks, gone]}", ["line 1: the agent has no slot 'gone'"]),
    ("- {outcome: Escalated, reaches_type: person}", ["line 1: the agent has no slot of type 'person'"]),
    ("\n\n- {outcome: Failed, shows: fallback, times: 0}", ["line 3: times must be a whole number, 1 or more, not 0"]),
    ("- {outcome: Failed, shows: fallback, times: two}", ["line 1: times must be a whole number, 1 or more, not 'two'"]),
    ("- {outcome: Failed, visits: ask}", ["line 1: unknown condition 'visits' (use reaches, ends_at, reaches_type or shows)"]),
    ("- {outcome: Failed}", ["line 1: give exactly one condition: reaches, ends_at, reaches_type or shows"]),
    ("- {outcome: Failed, reaches: ask, ends_at: ask}", ["line 1: give exactly one condition: reaches, ends_at, reaches_type or shows"]),
    ("- {outcome: Completed, reaches: ask, times: 2}", ["line 1: times goes with shows only"]),
    ("- {reaches: ask}", ["line 1: outcome is missing (Completed, Escalated or Failed)"]),
    ("- ask", ["line 1: a rule is a mapping such as {outcome: Completed, ends_at: thanks}"]),
    ("outcome: Completed\nends_at: thanks\n", ["the rules must be a list, one item per rule (each line starting with '- ')"]),
    ("- {outcome: Completed, ends_at: thanks\n", ["line 2: not valid YAML (expected ',' or '}', but got '<stream end>')"]),
])
def test_bad_rules_are_refused_each_mistake_named(text, messages):
    with pytest.raises(outcome_rules.RulesError) as refused:
        outcome_rules.from_yaml(text, TYPES)
    assert refused.value.messages == messages


def test_set_outcomes_and_show_outcomes_round_trip(agent, runner, tmp_path):
    rules_file = tmp_path / "outcomes.yml"
    rules_file.write_text(RULES + "- {outcome: Completed, reaches: [ask, thanks]}\n")
    result = runner.invoke(args=["set-outcomes", "Order Bot", str(rules_file)])
    assert result.exit_code == 0, result.output
    assert result.output == "Saved 4 outcome rule(s) for Order Bot; its dialogs are being recomputed by the worker.\n"
    shown = runner.invoke(args=["show-outcomes", "Order Bot"])
    assert shown.output == RULES + "- {outcome: Completed, reaches: [ask, thanks]}\n"
    rules_file.write_text(shown.output)
    assert runner.invoke(args=["set-outcomes", "Order Bot", str(rules_file)]).exit_code == 0


def test_set_outcomes_refuses_a_bad_file_and_keeps_the_rules(agent, runner, tmp_path):
    set_rules(agent)
    bad = tmp_path / "bad.yml"
    bad.write_text("- {outcome: Completed, ends_at: thanks}\n- {outcome: Done, reaches: nope}\n")
    result = runner.invoke(args=["set-outcomes", "Order Bot", str(bad)])
    assert result.exit_code == 1
    assert "nothing was saved, Order Bot's rules stay as they were" in result.output
    assert "line 2: unknown outcome 'Done'" in result.output and "line 2: the agent has no slot 'nope'" in result.output
    assert runner.invoke(args=["show-outcomes", "Order Bot"]).output == RULES
    assert Agent.get_by_id(agent.id).outcome_rules_version == 1
    missing = runner.invoke(args=["set-outcomes", "Nobody", str(bad)])
    assert missing.exit_code == 1 and "No agent named 'Nobody'" in missing.output


def test_the_outcomes_report_has_five_rows_always(agent):
    set_rules(agent)
    writer.ingest_events(agent, STREAM)
    rows, counted = outcomes_kind.build(agent.id, filters(), "UTC")
    assert counted == 6
    assert rows == [["Completed", 2, outcomes_kind.share(2, 6)], ["Escalated", 1, outcomes_kind.share(1, 6)],
                    ["Failed", 1, outcomes_kind.share(1, 6)], ["Abandoned", 1, outcomes_kind.share(1, 6)],
                    ["In progress", 1, outcomes_kind.share(1, 6)]]
    assert [str(row[2]) for row in rows] == ["33.33", "16.67", "16.67", "16.67", "16.67"]
    empty, nothing = outcomes_kind.build(agent.id, periods.Filters((agent.id,), date(2020, 1, 1), date(2020, 1, 2)), "UTC")
    assert nothing == 0 and [row[1:] for row in empty] == [[0, outcomes_kind.share(0, 0)]] * 5
    assert kinds.file_name("outcomes", "support-bot", date(2026, 1, 1), date(2026, 1, 31)) == "outcomes_support-bot_2026-01-01_2026-01-31.csv"
    assert list(kinds.REPORTS)[3] == "outcomes"


def test_every_report_and_list_honours_the_outcomes_filter(agent):
    set_rules(agent)
    writer.ingest_events(agent, STREAM)
    for chosen in (("abandoned",), ("completed", "failed"), ("in-progress",), ("escalated", "abandoned", "in-progress")):
        wanted = {d for d, outcome in EXPECTED.items() if outcome in chosen}
        chosen_filters = filters(*chosen)
        stops = stop_slots.stop_slot_counts(agent.id, chosen_filters, "UTC")
        assert sum(c.dialogs for c in stops) == len(wanted), chosen
        assert slot_funnel.counted(slot_funnel.funnel(agent.id, chosen_filters, "UTC")) == len(wanted)
        _, paths_counted = kinds.REPORTS["slot-paths"].build(agent.id, chosen_filters, "UTC")
        assert paths_counted == len(wanted)
        page = dialog_lists.dialog_page(chosen_filters, "UTC", dialog_lists.Selector())
        assert page.total == len(wanted) and {row.external_id for row in page.rows} == wanted
        reached_ask = dialog_lists.dialog_page(chosen_filters, "UTC", dialog_lists.Selector(reached="ask"))
        assert reached_ask.total == len(wanted - {"d6"})


def test_a_good_ending_is_never_a_drop_off(agent):
    writer.ingest_events(agent, STREAM)
    before = {s.key: slot_funnel.exit_rate(s) for s in slot_funnel.funnel(agent.id, filters(), "UTC")}
    assert before["thanks"] > 0, "without rules every stop is an exit"
    set_rules(agent)
    steps = {s.key: s for s in slot_funnel.funnel(agent.id, filters(), "UTC")}
    assert (steps["thanks"].stopped, steps["thanks"].lost, slot_funnel.exit_rate(steps["thanks"])) == (3, 0, 0)
    assert steps["fallback"].lost == 1  # d3 failed there
    assert steps["ask"].lost == 1, "d4 was abandoned there; d5, in progress there, is not lost (yet)"
    assert steps["ask"].stopped == 2 and str(slot_funnel.exit_rate(steps["ask"])) == "20.00"


def test_the_preview_shows_rates_stacked_bars_and_links(with_outcomes, client, auth, people):
    agent = with_outcomes
    auth.login()
    html = client.get(f"/analytics?agents={agent.id}").get_data(as_text=True)
    assert re.search(r"Containment .*?83\.33%", html, re.S) and re.search(r"Completion .*?33\.33%", html, re.S)
    assert 'aria-label="Containment 83.33%: the dialogs not escalated"' in html
    contained = re.search(r'href="([^"]+)" aria-label="Containment', html).group(1).replace("&amp;", "&")
    assert client.get(contained).get_data(as_text=True).count('data-label="Channel"') == 5
    assert "Bar chart of the top stop slots, by outcome" in html and 'class="outcome-abandoned"' in html
    funnel = client.get(f"/analytics?agents={agent.id}&view=slot-funnel").get_data(as_text=True)
    assert "high exit" not in funnel.split("Thanks")[1].split("</tr>")[0]
    paths = client.get(f"/analytics?agents={agent.id}&view=slot-paths").get_data(as_text=True)
    assert f'<option value="{agent.id}:ask" selected>' in paths, "the default focus is where most were lost, not the thank-you"
    plain = client.get(f"/analytics?agents={people['sales'].id}").get_data(as_text=True)
    assert "Containment" not in plain.split('id="preview"')[1], "an agent without rules shows neither rate"
    refused = client.get(f"/analytics?agents={agent.id}&outcomes=lost").get_data(as_text=True)
    assert "&#39;lost&#39; is not a valid choice" in refused


def test_the_outcomes_export_and_a_filtered_report_by_email(app, with_outcomes, client, auth, people):
    agent = with_outcomes
    auth.login()
    today = utcnow().date()
    form = {"agents": str(agent.id), "date_from": (today - timedelta(days=2)).isoformat(), "date_to": today.isoformat()}
    with mail.record_messages() as outbox:
        auth.post("/analytics", {**form, "action": "export:outcomes"})
        auth.post("/analytics", {**form, "outcomes": ["abandoned", "failed"], "action": "export"})
    outcomes_mail, stops_mail = outbox
    assert outcomes_mail.subject == f"Outcomes report: Order Bot, {form['date_from']} \u2013 {form['date_to']}"
    response = fetch(client, link_path(outcomes_mail))
    assert f"filename=outcomes_order-bot_{form['date_from']}_{form['date_to']}.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert rows == [["Outcome", "Dialogs", "Share (%)"], ["Completed", "2", "33.33"], ["Escalated", "1", "16.67"],
                    ["Failed", "1", "16.67"], ["Abandoned", "1", "16.67"], ["In progress", "1", "16.67"]]
    assert "Outcomes: Failed or Abandoned" in stops_mail.body and "2 counted dialogs" in stops_mail.body
    with app.app_context():
        assert json.loads(ExportRequest.get_by_id(2).outcomes) == ["failed", "abandoned"]
    assert "Failed or Abandoned" in client.get("/exports").get_data(as_text=True)


def test_a_subscription_keeps_the_outcomes_filter(app, order_bot, client, auth, people):
    agent = order_bot
    auth.login()
    today = utcnow().date()
    auth.post("/analytics", {"agents": str(agent.id), "date_from": today.isoformat(), "date_to": today.isoformat(),
                             "outcomes": ["abandoned"], "kinds": ["outcomes"], "frequency": "daily", "weekday": "0", "day": "1", "at": "08:00",
                             "action": "subscribe"})
    with app.app_context():
        subscription = Subscription.get()
    assert json.loads(subscription.outcomes) == ["abandoned"] and json.loads(subscription.kinds) == ["outcomes"]
    assert "outcomes: Abandoned" in client.get("/subscriptions").get_data(as_text=True)



def test_a_slot_changing_type_under_a_reaches_type_rule_recomputes(app, client):
    with app.app_context():
        agent, key = make_agent("Typed Bot")
        writer.upsert_slots(agent, SLOTS)
        set_rules(agent, "- {outcome: Escalated, reaches_type: handover}\n")
        writer.ingest_events(agent, STREAM)
        assert outcomes_now(agent)["d1"] == "abandoned"
    retyped = [{"key": "thanks", "name": "Thanks", "type": "handover", "text": ""}]
    response = client.put("/api/v1/slots", json=retyped, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    with app.app_context():
        recompute.finish(agent.id)
        found = outcomes_now(agent)
        assert [found[d] for d in ("d1", "d2", "d4", "d6")] == ["escalated", "escalated", "abandoned", "escalated"]


def test_analytics_says_while_outcomes_are_being_recomputed(app, with_outcomes, client, auth, people):
    with app.app_context():
        recompute.save(with_outcomes, outcome_rules.from_yaml("- {outcome: Failed, reaches: ask}\n", TYPES))
    auth.login()
    html = client.get(f"/analytics?agents={with_outcomes.id}").get_data(as_text=True)
    assert "The outcome rules changed: 0% of the dialogs are recomputed so far" in html
    assert "show their outcome under the previous rules (as of " in html
