"""Compare with: the z-test against published worked examples, the periods' arithmetic
(31-day months, leap years, a week across a DST change), changes in points and percent,
and the Analytics preview beside the period before."""
import math
import re
from datetime import date, datetime, timedelta

import pytest

from comparison import changes, periods, statistics
from ingest import rules as ingest_rules
from ingest import writer
from reporting.periods import period_bounds
from tests.conftest import make_agent

SLOTS = [ingest_rules.SlotIn("ask", "Ask order", "question", ""), ingest_rules.SlotIn("pay", "Payment", "question", "")]


# Worked examples: 140/200 vs 255/340 (z = -1.266015), 122/202 vs 220/340 (z ≈ -1.005,
# one-sided p = 0.1573), 28/254 vs 36/301 (z = -0.344, two-sided p = 0.7307).
@pytest.mark.parametrize("counts, z, p", [
    ((140, 200, 255, 340), -1.266015, 0.2055),
    ((122, 202, 220, 340), -1.005, 2 * 0.1573),
    ((28, 254, 36, 301), -0.344, 0.7307),
])
def test_the_z_test_gives_the_published_figures(counts, z, p):
    found_z, found_p = statistics.two_proportion_z(*counts)
    assert found_z == pytest.approx(z, abs=0.0005)
    assert found_p == pytest.approx(p, abs=0.0005)


def test_significance_needs_30_dialogs_each_side_and_p_below_five_percent():
    assert statistics.two_proportion_z(1, 2, 1, 2) == (0.0, 1.0)
    assert statistics.two_proportion_z(0, 50, 0, 80) == (0.0, 1.0), "no variance: nothing to tell apart"
    assert statistics.is_significant(60, 100, 40, 100)  # z = 2.83
    assert not statistics.is_significant(20, 29, 5, 29), "29 dialogs are too few, however large the change"
    assert statistics.is_significant(20, 30, 5, 30)
    assert not statistics.is_significant(140, 200, 255, 340)
    assert math.erfc(1.959964 / math.sqrt(2)) == pytest.approx(0.05, abs=1e-6)


@pytest.mark.parametrize("first, last, before", [
    (date(2026, 11, 1), date(2026, 11, 30), (date(2026, 10, 2), date(2026, 10, 31))),
    (date(2026, 12, 1), date(2026, 12, 31), (date(2026, 10, 31), date(2026, 11, 30))),  # 31 days back
    (date(2024, 3, 1), date(2024, 3, 31), (date(2024, 1, 30), date(2024, 2, 29))),  # through a leap day
    (date(2026, 3, 5), date(2026, 3, 5), (date(2026, 3, 4), date(2026, 3, 4))),
])
def test_the_previous_period_has_as_many_days_and_ends_the_day_before(first, last, before):
    assert periods.previous_period(first, last) == before
    assert (before[1] - before[0]) == (last - first)


@pytest.mark.parametrize("first, last, before", [
    (date(2026, 11, 1), date(2026, 11, 30), (date(2025, 11, 1), date(2025, 11, 30))),
    (date(2025, 2, 1), date(2025, 2, 28), (date(2024, 2, 1), date(2024, 2, 29))),  # a whole month stays whole
    (date(2024, 2, 1), date(2024, 2, 29), (date(2023, 2, 1), date(2023, 2, 28))),
    (date(2024, 2, 29), date(2024, 3, 6), (date(2023, 2, 28), date(2023, 3, 6))),  # no 29 February
    (date(2025, 2, 22), date(2025, 2, 28), (date(2024, 2, 22), date(2024, 2, 28))),  # not a whole month: 7 days stay 7
    (date(2025, 2, 28), date(2025, 2, 28), (date(2024, 2, 28), date(2024, 2, 28))),
    (date(2025, 1, 1), date(2025, 2, 28), (date(2024, 1, 1), date(2024, 2, 29))),
    (date(2026, 1, 10), date(2026, 1, 20), (date(2025, 1, 10), date(2025, 1, 20))),
])
def test_the_same_period_last_year(first, last, before):
    assert periods.same_period_last_year(first, last) == before


def test_a_week_across_a_dst_change_is_seven_local_days():
    week = periods.previous_period(date(2026, 11, 2), date(2026, 11, 8))  # the week after Chicago's change
    assert week == (date(2026, 10, 26), date(2026, 11, 1))
    start, end = period_bounds(*week, "America/Chicago")
    assert end - start == timedelta(hours=7 * 24 + 1), "the week holds the hour the clocks went back"
    assert start == datetime(2026, 10, 26, 5) and end == datetime(2026, 11, 2, 6)
    start, end = period_bounds(date(2026, 3, 23), date(2026, 3, 29), "Europe/Berlin")
    assert end - start == timedelta(hours=7 * 24 - 1)


def test_a_scheduled_month_compares_with_the_month_before():
    assert periods.calendar_period_before(date(2026, 3, 1), date(2026, 3, 31)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert periods.calendar_period_before(date(2026, 11, 23), date(2026, 11, 29)) == (date(2026, 11, 16), date(2026, 11, 22))
    assert periods.calendar_period_before(date(2026, 12, 2), date(2026, 12, 2)) == (date(2026, 12, 1), date(2026, 12, 1))


def test_periods_in_words():
    nov = (date(2026, 11, 1), date(2026, 11, 30))
    assert periods.comparison_in_words(nov, periods.previous_period(*nov)) == "1–30 Nov vs 2–31 Oct"
    assert periods.comparison_in_words(nov, periods.same_period_last_year(*nov)) == "1–30 Nov 2026 vs 1–30 Nov 2025"
    assert periods.in_words(date(2025, 12, 29), date(2026, 1, 4)) == "29 Dec 2025–4 Jan 2026"
    assert periods.in_words(date(2026, 10, 25), date(2026, 11, 23)) == "25 Oct–23 Nov"
    assert periods.in_words(date(2026, 11, 3), date(2026, 11, 3)) == "3 Nov"


def test_rates_change_in_points_and_counts_in_percent():
    assert changes.of_rate(20, 100, 10, 100) == changes.Change(10.0, "+10.00 pp", "up")
    assert changes.of_rate(50, 200, 80, 200) == changes.Change(40.0, "\u221215.00 pp", "down")
    assert changes.of_rate(3, 10, 1, 10) == changes.Change(10.0, "+20.00 pp", None), "10 dialogs: never marked"
    assert changes.of_rate(5, 10, 0, 0) == changes.Change(None, "no dialogs before", None)
    assert changes.of_count(5, 4) == changes.Change(4, "+25.0%")
    assert changes.of_count(3, 0) == changes.Change(0, "new")
    assert changes.of_count(4, 4).text == "\u00b10%"
    assert changes.points(1, 3, 0, 3) == 100 * changes.Fraction(1, 3), "exact, for alert thresholds"


def dialogs_on(day, how_many, prefix, stop_at, channel="web"):
    """`how_many` counted dialogs starting at noon UTC on `day`, each ending at `stop_at` (a slot key)."""
    events = []
    for number in range(how_many):
        start = datetime.combine(day, datetime.min.time()) + timedelta(hours=12, seconds=number)
        dialog_id = f"{prefix}-{number}"
        events.append(ingest_rules.EventIn(dialog_id, channel, "user", None, None, start))
        events.append(ingest_rules.EventIn(dialog_id, channel, "bot", "ask", None, start + timedelta(seconds=1)))
        if stop_at == "pay":
            events.append(ingest_rules.EventIn(dialog_id, channel, "bot", "pay", None, start + timedelta(seconds=2)))
    return events


@pytest.fixture
def shop_bot(app):
    """Nov 1–7: 40 dialogs, 10 stop at Ask order. Oct 25–31: 40 dialogs, 30 stop at Ask order."""
    with app.app_context():
        agent = make_agent("Shop Bot")[0]
        writer.upsert_slots(agent, SLOTS)
        writer.ingest_events(agent, [
            *dialogs_on(date(2026, 11, 3), 10, "now-ask", "ask"), *dialogs_on(date(2026, 11, 4), 30, "now-pay", "pay"),
            *dialogs_on(date(2026, 10, 27), 30, "then-ask", "ask"), *dialogs_on(date(2026, 10, 28), 10, "then-pay", "pay"),
        ])
    return agent


def words(html):
    """The page's text, its "?" definitions left out, in single spaces."""
    html = re.sub(r'<span class="definition">.*?</span>', "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_analytics_shows_each_number_beside_the_period_before(shop_bot, client, auth, people):
    auth.login()
    page = f"/analytics?agents={shop_bot.id}&date_from=2026-11-01&date_to=2026-11-07"
    plain = client.get(page).get_data(as_text=True)
    assert "was" not in re.sub(r"<[^>]+>", "", plain.split('id="preview"')[1]) and "Compared:" not in plain
    html = client.get(page + "&compare=previous").get_data(as_text=True)
    assert '<option selected value="previous">Previous period</option>' in html
    assert "Compared: <strong>1–7 Nov vs 25–31 Oct</strong>" in html
    stops = words(html.split('id="preview"')[1])
    assert "40 counted dialogs ? was 40 , ±0%" in stops, "counts in percent"
    assert "Ask order 10 was 30 , \u221266.7% 25.00% was 75.00%, \u221250.00 pp ▼" in stops
    before_link = re.search(r'href="([^"]+)" aria-label="30 dialogs that stopped at Ask order in the period before"', html).group(1)
    assert "date_from=2026-10-25" in before_link and "date_to=2026-10-31" in before_link and "stop_slot=ask" in before_link
    assert client.get(before_link.replace("&amp;", "&")).get_data(as_text=True).count('data-label="Channel"') == 30
    funnel = words(client.get(page + "&compare=previous&view=slot-funnel").get_data(as_text=True))
    assert "Payment high exit 30 was 10 , +200.0% 30 30 was 10 , +200.0% 100.00% was 100.00%, ±0 pp" in funnel
    assert "Ask order high exit 40 was 40 , ±0% 40 10 was 30 , −66.7% 25.00% was 75.00%, −50.00 pp ▼" in funnel
    paths = words(client.get(page + "&compare=previous&view=slot-paths").get_data(as_text=True))
    assert "Ask order Payment 30 was 10 , +200.0% 75.00% was 25.00%, +50.00 pp ▲" in paths
    year = client.get(page + "&compare=last-year").get_data(as_text=True)
    assert "1–7 Nov 2026 vs 1–7 Nov 2025" in year and "Shop Bot: no counted dialogs in 1–7 Nov 2025, so nothing to compare with." in year
    assert "was" not in words(year.split('id="preview"')[1]), "no number repeats that there was nothing before"
    assert "was" not in re.sub(r"<[^>]+>", "", client.get(page + "&compare=someday").get_data(as_text=True).split('id="preview"')[1])
