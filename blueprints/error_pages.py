"""The error pages (400 to 503) in the page's language, for the whole application: the
handlers of `app.py` and of `blueprints.health` render them here."""
from flask import render_template
from flask_babel import lazy_gettext as _l

# The error pages' titles and sentences in the page's language: Werkzeug's own English
# texts are the message ids, so English pages read as before.
ERROR_TEXTS = {
    400: (_l("Bad Request"), _l("The browser (or proxy) sent a request that this server could not understand.")),
    403: (_l("Forbidden"), _l("You don't have the permission to access the requested resource. "
                              "It is either read-protected or not readable by the server.")),
    404: (_l("Not Found"), _l("The requested URL was not found on the server. "
                              "If you entered the URL manually please check your spelling and try again.")),
    405: (_l("Method Not Allowed"), _l("The method is not allowed for the requested URL.")),
    410: (_l("Gone"), _l("The requested URL is no longer available on this server and there is no forwarding address. "
                         "If you followed a link from a foreign page, please contact the author of this page.")),
    413: (_l("Request Entity Too Large"), _l("The data value transmitted exceeds the capacity limit.")),
    429: (_l("Too Many Requests"), _l("This user has exceeded an allotted request count. Try again later.")),
    500: (_l("Internal Server Error"), _l("The server encountered an internal error and was unable to complete your request. "
                                          "Either the server is overloaded or there is an error in the application.")),
    503: (_l("Service Unavailable"), _l("The server is temporarily unable to service your request due to maintenance downtime or capacity "
                                        "problems. Please try again later.")),
}


def page(error):
    """Pages get a readable error page; the API blueprint answers JSON itself. A
    description the code gave (`abort(400, "…")`) is shown as given; Werkzeug's
    default one in the page's language."""
    if error.code is None or error.code < 400:
        return error
    title, sentence = ERROR_TEXTS.get(error.code, (error.name, error.description))
    if error.description != type(error).description:
        sentence = error.description
    return render_template("error.html", error=error, title=title, sentence=sentence), error.code
