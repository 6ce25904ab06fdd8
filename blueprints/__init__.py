"""One blueprint per area of the app: auth, analytics, exports, subscriptions, api,
admin, imports, health. Each holds the forms it shows; what several of them share
(guards, fields, subscription_form, export_requests) sits in modules without a
blueprint, so that no blueprint imports another."""
