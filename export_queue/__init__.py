"""The export pipeline: from a click on Stop slots to one email per agent.

The database is the truth; the Huey queue only carries item ids. One module per
role, each with one reason to change:

- `intake`: record a request (dedupe, flood cap) and put its items on the queue;
- `states`: the item's state machine, its transitions and the worker's lease;
- `delivery`: build the report, send its email, classify failures, retry;
- `failures`: the kind of failure an item records; `wording`: what people are told of it;
- `emails`: what the email says; `links`: where the file is and its signed link;
- `upkeep`: expire links, delete stale files, recover lost queue messages;
- `health`: the numbers the queue page and `queue-status` show.
"""
