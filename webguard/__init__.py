"""Protections every response and log line gets, whatever the page: security headers
and cookie flags, download tokens kept out of logs, and one log line per request."""
