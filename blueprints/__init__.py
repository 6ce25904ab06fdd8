"""One blueprint per area of the app: auth, analytics, exports, api, admin."""
