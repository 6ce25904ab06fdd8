"""Did the change help? A period beside the one before it (SPEC: "Comparing periods and alerts").

- `periods`: which days "the one before" covers, and both periods in words (pure);
- `statistics`: the two-proportion z-test that marks a change as significant (pure);
- `changes`: a number's change from before, as the pages and emails show it (pure);
- `previews`: the Analytics preview beside the earlier one (pure);
- `figures`: an agent's headline figures for a subscription's email (counted dialogs, and
  Containment and Completion where it has outcome rules).

Alerts, which use all of these, are a package of their own (`alerts`).
"""
