"""Getting dialog events and slot catalogues in, and the summaries kept with them.

One module per role, each with one reason to change:

- `rules`: what a batch, a slot list and a name may hold (pure validation);
- `decoding`: the fast path, msgspec checking a batch in one pass by the same rules;
- `writer`: one all-or-nothing, idempotent transaction per batch;
- `summaries`: a dialog's start, counted flag, stop slot and path, in Python;
- `paths`: the same summary and path rows recomputed from the events in SQL;
- `daily_totals`: those rows summed per day, kept exact by differences;
- `traffic`: new events per agent and quarter hour, for the agent page;
- `collector`: Python's cycle collector held off while a batch is written.
"""
