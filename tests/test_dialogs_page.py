"""`/dialogs`: the list behind a preview number, as an analyst and an outsider see it."""
import re
from datetime import datetime, timedelta

import pytest

from ingest import rules, writer
from models import Dialog

DAY = datetime(2026, 3, 10, 9, 0)
LIST = "/dialogs?agents={agent}&date_from=2026-03-10&date_to=2026-03-10"


def dialogs(agent, count, stop="ask_order", channel="web"):
    """`count` counted dialogs that stop at `stop`, a minute apart, with a made-up text each."""
    events = []
    for n in range(count):
        at = DAY + timedelta(minutes=n)
        events += [
            rules.EventIn(f"{stop}-{n}", channel, "user", None, "Hi, I am a made-up person", at),
            rules.EventIn(f"{stop}-{n}", channel, "bot", stop, "Your order number?", at + timedelta(seconds=1)),
        ]
    writer.ingest_events(agent, events)


def dialog_ids(html):
    return re.findall(r'<td data-label="Dialog ID"><a href="[^"]+" translate="no">([^<]+)</a></td>', html)


@pytest.fixture
def analyst(app, people, auth):
    auth.login("analyst@example.com")
    return people


def test_the_list_says_its_selector_and_total_and_pages_newest_first(analyst, client):
    support = analyst["support"]
    dialogs(support, 55, stop="ask_order")
    dialogs(support, 3, stop="greet")
    url = LIST.format(agent=support.id) + "&stop_slot=ask_order"
    html = client.get(url).get_data(as_text=True)
    assert "Dialogs that stopped at ask_order" in html and "Support Bot, 10 March 2026" in html
    assert "55 dialogs" in html
    first = dialog_ids(html)
    assert first == [f"ask_order-{n}" for n in range(54, 4, -1)]
    assert 'rel="prev"' not in html
    older = re.search(r'href="([^"]+)" rel="next">Older', html).group(1).replace("&amp;", "&")
    html = client.get(older).get_data(as_text=True)
    assert dialog_ids(html) == [f"ask_order-{n}" for n in range(4, -1, -1)]
    assert 'rel="next"' not in html and "55 dialogs" in html
    newer = re.search(r'href="([^"]+)" rel="prev">Newer', html).group(1).replace("&amp;", "&")
    assert dialog_ids(client.get(newer).get_data(as_text=True)) == first
    assert f'href="/analytics?agents={support.id}&amp;date_from=2026-03-10&amp;date_to=2026-03-10"' in html


def test_an_empty_list_says_so(analyst, client):
    html = client.get(LIST.format(agent=analyst["support"].id)).get_data(as_text=True)
    assert "0 dialogs" in html and "No dialogs here" in html


def test_channels_and_steps_narrow_the_list(analyst, client):
    support = analyst["support"]
    dialogs(support, 2, stop="greet", channel="web")
    dialogs(support, 3, stop="pay", channel="tg")
    html = client.get(LIST.format(agent=support.id) + "&channels=tg&from_slot=pay&to_slot=(end)").get_data(as_text=True)
    assert "3 dialogs" in html and "Dialogs that went from pay to (end)" in html
    html = client.get(LIST.format(agent=support.id) + "&channels=web&reached=pay").get_data(as_text=True)
    assert "0 dialogs" in html


def test_another_agents_list_is_a_404_that_leaks_no_count(analyst, client):
    sales = analyst["sales"]
    dialogs(sales, 4)
    for agents in (f"{sales.id}", f"{analyst['support'].id}&agents={sales.id}", "999", "x"):
        response = client.get(f"/dialogs?agents={agents}&date_from=2026-03-10&date_to=2026-03-10")
        assert response.status_code == 404
        assert "4 dialogs" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query, message",
    [
        ("&stop_slot=nope", "No slot with the key &#39;nope&#39; in the chosen agents."),
        ("&from_slot=greet", "A step needs both from_slot and to_slot."),
        ("&stop_slot=greet&reached=greet", "Choose at most one"),
        ("&older=yesterday", "That page link is damaged"),
        ("&date_from=2026-03-10&date_to=2026-03-01", "To must be on or after From."),
    ],
)
def test_what_the_list_cannot_answer_is_a_400_in_words(analyst, client, query, message):
    dialogs(analyst["support"], 1, stop="greet")
    period = "" if "date_" in query else "&date_from=2026-03-10&date_to=2026-03-10"
    response = client.get(f"/dialogs?agents={analyst['support'].id}{period}{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_the_navigation_leads_to_the_list(analyst, client):
    html = client.get("/dialogs").get_data(as_text=True)
    assert '<a href="/dialogs" aria-current="page">Dialogs</a>' in html
    assert "Counted dialogs" in html


def transcript_links(html):
    return [link.replace("&amp;", "&") for link in re.findall(r'<a href="(/dialogs/\d+[^"]*)" translate="no">', html)]


def test_a_transcript_shows_events_in_path_order_and_marks_the_selector(analyst, client):
    support = analyst["support"]
    events = [
        rules.EventIn("made-up-1", "web", "bot", "ask_order", "Your order number?", DAY + timedelta(seconds=2)),
        rules.EventIn("made-up-1", "web", "user", None, "<script>alert(1)</script>\nsecond line", DAY + timedelta(seconds=3)),
        rules.EventIn("made-up-1", "web", "bot", "greet", "שלום 👋", DAY),
        rules.EventIn("made-up-1", "web", "system", None, "", DAY + timedelta(seconds=2)),
    ]
    writer.ingest_events(support, events)
    html = client.get(LIST.format(agent=support.id) + "&from_slot=greet&to_slot=ask_order").get_data(as_text=True)
    [link] = transcript_links(html)
    assert link.endswith("#here") and "from_slot=greet" in link
    page = client.get(link).get_data(as_text=True)
    texts = re.findall(r'<p class="text">(.*?)</p>', page, re.S)
    assert texts == ["שלום 👋", "Your order number?", '<span class="muted">(no text)</span>',
                     "&lt;script&gt;alert(1)&lt;/script&gt;\nsecond line"]
    assert page.count('class="line bot marked"') == 2 and 'id="here"' in page
    assert '<span class="slot" title="greet">greet</span>' in page and "2026-03-10 09:00 UTC" in page


def test_previous_and_next_walk_the_list(analyst, client):
    support = analyst["support"]
    dialogs(support, 3)
    html = client.get(LIST.format(agent=support.id) + "&stop_slot=ask_order").get_data(as_text=True)
    newest, middle, oldest = transcript_links(html)
    page = client.get(middle).get_data(as_text=True)
    assert re.search(r'href="([^"]+)" rel="prev">Previous', page).group(1).replace("&amp;", "&") == newest
    assert re.search(r'href="([^"]+)" rel="next">Next', page).group(1).replace("&amp;", "&") == oldest
    assert 'rel="prev"' not in client.get(newest).get_data(as_text=True)
    assert 'rel="next"' not in client.get(oldest).get_data(as_text=True)


def test_another_agents_dialog_or_a_guessed_id_is_a_404(analyst, client):
    dialogs(analyst["sales"], 1)
    foreign = Dialog.get().id
    assert client.get(f"/dialogs/{foreign}").status_code == 404
    assert client.get(f"/dialogs/{foreign + 1000}").status_code == 404
    dialogs(analyst["support"], 1)
    own = Dialog.select().order_by(Dialog.id.desc()).get().id
    assert client.get(f"/dialogs/{own}?agents={analyst['sales'].id}").status_code == 404
    assert client.get(f"/dialogs/{own}").status_code == 200


@pytest.mark.parametrize("view", ["stop-slots", "slot-funnel", "slot-paths"])
def test_every_preview_number_opens_its_dialogs(analyst, client, view):
    support = analyst["support"]
    dialogs(support, 4, stop="ask_order")
    dialogs(support, 2, stop="greet", channel="tg")
    writer.ingest_events(support, [rules.EventIn("no-slot", "web", "user", None, "hello", DAY)])
    html = client.get(f"/analytics?agents={support.id}&date_from=2026-03-10&date_to=2026-03-10&view={view}").get_data(as_text=True)
    links = re.findall(r'<a href="(/dialogs\?[^"]+)" aria-label="(\d+) ([^"]+)">([^<]+)</a>', html)
    # stop slots: the table's numbers and the chart's bars; paths: top steps and the focus slot's two tables
    assert len(links) == {"stop-slots": 3 + 3, "slot-funnel": 6, "slot-paths": 5 + 2}[view]
    for url, number, words, shown in links:
        listed = client.get(url.replace("&amp;", "&")).get_data(as_text=True)
        dialogs_number = re.search(r"by (\d+) dialogs", words)
        assert re.search(rf"\b{dialogs_number.group(1) if dialogs_number else number} dialogs?\b", listed), (url, words)
        assert (number == shown or not shown.isdigit()) and "dialogs" in words  # a bar shows its slot
