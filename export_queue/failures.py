"""Why an item was not sent (yet): the kind of failure the worker records beside its
technical reason. The Exports page words each kind for people (`wording`); the reason,
with the mail server's own words, paths and codes, stays for admins and the log."""
from enum import StrEnum
from typing import NamedTuple


class FailureKind(StrEnum):
    MAIL_UNREACHABLE = "mail-unreachable"
    MAIL_RECIPIENT_REFUSED = "mail-recipient-refused"
    MAIL_DEFERRED = "mail-deferred"  # answered 4xx: not for now
    MAIL_REJECTED = "mail-rejected"  # answered otherwise
    REPORT_NOT_WRITTEN = "report-not-written"
    DATABASE_UNREACHABLE = "database-unreachable"
    DATABASE_REFUSED = "database-refused"
    SENT_NOT_RECORDED = "sent-not-recorded"
    NO_ACCESS = "no-access"
    UNEXPECTED = "unexpected"


class Failure(NamedTuple):
    """One failed step: its kind, the technical reason, and whether retrying may help."""

    kind: FailureKind
    reason: str
    transient: bool
