"""Did the change help? A period beside the one before it (SPEC: "Comparing periods and alerts").

- `periods`: which days "the one before" covers, and both periods in words (pure);
- `statistics`: the two-proportion z-test that marks a change as significant (pure);
- `changes`: a number's change from before, as the pages and emails show it (pure);
- `figures`: an agent's comparable figures for a period (counted dialogs, rates, exit rates);
- `alerts`: alerts, checked by the workers' sweep once per period, mailed only when something got worse.
"""
