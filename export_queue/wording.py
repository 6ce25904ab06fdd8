"""What the Exports page tells a person about an email that is not sent yet, or
will not be: a sentence they can act on, one per kind of failure the worker
recorded. The reason itself (with the mail server's own words, paths and codes)
is shown to admins only."""
from flask_babel import lazy_gettext as _l

from export_queue.failures import FailureKind

SENTENCES = {
    FailureKind.MAIL_UNREACHABLE: _l("We could not reach the mail server."),
    FailureKind.MAIL_RECIPIENT_REFUSED: _l("The mail server refused your email address."),
    FailureKind.MAIL_DEFERRED: _l("The mail server did not take the email for now."),
    FailureKind.MAIL_REJECTED: _l("The mail server rejected the email."),
    FailureKind.REPORT_NOT_WRITTEN: _l("The report file could not be saved on the server."),
    FailureKind.DATABASE_UNREACHABLE: _l("The server could not reach its database."),
    FailureKind.SENT_NOT_RECORDED: _l("The email was sent, but the server could not record it; an admin must look into it."),
    FailureKind.DATABASE_REFUSED: _l("The server's database refused this report; an admin must look into it."),
    FailureKind.NO_ACCESS: _l("You no longer have access to this agent."),
    FailureKind.UNEXPECTED: _l("Something went wrong on the server."),
}


def problem(kind):
    """A sentence for people about the kind of failure `export_queue.delivery` recorded;
    the general one for an item with none."""
    return SENTENCES.get(kind, SENTENCES[FailureKind.UNEXPECTED])
