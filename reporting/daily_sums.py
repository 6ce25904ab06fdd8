"""Reading the daily totals (`DailyReach`, `DailyStep`, kept by ingestion): a period's
counts are the totals of its whole UTC days plus the per-dialog rows of the at most
two partial days at its edges (`periods.period_parts`), in one query. With an
Outcomes filter, which the daily totals cannot tell apart, the per-dialog rows of
the whole period are read instead."""
import functools
import operator

from peewee import fn

from outcomes import evaluation
from reporting import periods, population


def sums_in_period(agent_id, filters, tz_name, per_dialog, daily, keys, counts):
    """The population's `counts` summed per `keys` (column names), in one query: the
    `daily` totals (a select of a daily table) over the period's whole UTC days, and
    the `per_dialog` rows (a select with the same column names) of the partial days
    at its edges. Keys whose first count sums to 0 are left out."""
    days, edges = periods.period_parts(filters, tz_name)
    if evaluation.restricts(filters.outcomes):  # the daily totals do not know outcomes
        days, edges = None, [periods.period_bounds(filters.date_from, filters.date_to, tz_name)]
    parts = [
        per_dialog.where(population.in_range(per_dialog.model, agent_id, filters.channels, start, end, filters.outcomes))
        for start, end in edges
    ]
    if days:
        model = daily.model
        condition = (model.agent == agent_id) & (model.day >= days[0]) & (model.day < days[1])
        if filters.channels:
            condition &= model.channel.in_(list(filters.channels))
        parts.append(daily.where(condition))
    union = functools.reduce(operator.add, parts)  # UNION ALL
    grouped = [getattr(union.c, name) for name in keys]
    sums = [fn.SUM(getattr(union.c, name)) for name in counts]
    return union.select_from(*grouped, *sums).group_by(*grouped).having(sums[0] > 0).tuples()
