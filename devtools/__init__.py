"""Development helpers: `make run`, demo data, the local mail catcher, and the real-process harness of the tests, bench and screenshots. Production code never imports them."""
