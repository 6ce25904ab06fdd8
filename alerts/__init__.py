"""Alerts: "tell me when it gets worse" (SPEC: "Comparing periods and alerts").

- `watching`: what an alert watches, and which changes crossed its threshold (the rule is pure);
- `checks`: the workers' sweep checks each due period of each alert once, on the
  subscriptions' schedules (`subscriptions.schedules`), and records what it found;
- `delivery`: the email of a period that found something, sent once, with retries;
- `emails`: that email, in words and in a table.

An alert never switches itself off, sends nothing for a period without data or
without a change past its threshold, and never mails a failure to compute: that is
retried by the next sweep and shown on /subscriptions.
"""
