"""Who may do what: passwords, sessions and log-in limits for people; API keys for
bots; which agents an account may see."""
