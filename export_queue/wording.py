"""What the Exports page tells a person about an email that is not sent yet, or
will not be: a sentence they can act on. The reason the worker recorded (with
the mail server's own words, paths and codes) is shown to admins only."""
import re

ANSWERED = re.compile(r"The mail server answered (\d)")


def problem(error):
    """A sentence for people about a reason `export_queue.delivery` recorded."""
    if error.startswith("The mail server could not be reached"):
        return "We could not reach the mail server."
    if error.startswith("The mail server refused the recipient"):
        return "The mail server refused your email address."
    if answered := ANSWERED.match(error):
        return "The mail server did not take the email for now." if answered.group(1) == "4" else "The mail server rejected the email."
    if error.startswith("The report could not be written"):
        return "The report file could not be saved on the server."
    if error.startswith("The database could not be reached"):
        return "The server could not reach its database."
    if error.startswith("The email was sent, but recording it failed"):
        return "The email was sent, but the server could not record it; an admin must look into it."
    if error.startswith("The database refused"):
        return "The server's database refused this report; an admin must look into it."
    if error.startswith("This account no longer has access"):
        return "You no longer have access to this agent."
    return "Something went wrong on the server."
