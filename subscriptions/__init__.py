"""Scheduled reports: a subscription's reports emailed every day, week or month.

- `schedules`: when a subscription is due and which days each email covers (pure);
- `sweep`: subscribing, and turning due periods into export requests, once each;
- `wording`: a subscription and its next email in words, for the pages;
- `lists`: which subscriptions send, which are due soon and which runs failed (the admin's lists).

Delivery itself is the export pipeline's (`export_queue`).
"""
