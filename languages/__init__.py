"""Which language a page or an email speaks: English or Russian (SPEC "Languages").

A page follows the account's choice, else the browser's `Accept-Language`. An email
follows its recipient's choice, else the language of the browser they last logged in
with: the worker and the subscription sweep that send most emails have no request to
ask. An invitation, to an account that has neither yet, speaks its admin's language.
The English texts in the code are the message ids; `translations/` holds the Russian
catalogue (`make messages` extracts, `make` compiles it).
"""
import os

from flask import g, has_request_context, request
from flask_babel import Babel, force_locale

from languages import formats

LANGUAGES = {"en": "English", "ru": "Русский"}
DEFAULT = "en"
TRANSLATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "translations")


def browser_language():
    """The language the browser prefers among ours (English when it names neither)."""
    return request.accept_languages.best_match(LANGUAGES, DEFAULT)


def page_language():
    """Flask-Babel's locale selector: the account's choice, else the browser's."""
    if not has_request_context():
        return DEFAULT
    account = g.get("account")
    if account is not None and account.language in LANGUAGES:
        return account.language
    return browser_language()


def email_language(account, otherwise=DEFAULT):
    """The language of emails to `account` (see the module's docstring); `otherwise`
    while it has none (an invitation speaks the language of the admin who sent it)."""
    for language in (account.language, account.browser_language):
        if language in LANGUAGES:
            return language
    return otherwise


def speaking_to(account, otherwise=DEFAULT):
    """`with speaking_to(account):` renders texts in the language of its emails."""
    return force_locale(email_language(account, otherwise))


def init_app(app):
    Babel(app, locale_selector=page_language, default_translation_directories=TRANSLATIONS)
    app.jinja_env.globals["ngettext"] = formats.counted_in_template
    app.jinja_env.filters.update(number=formats.number, percent=formats.percent)
    app.add_template_global(formats.language, "page_language")
