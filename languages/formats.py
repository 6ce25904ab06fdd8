"""Numbers, percentages, plurals and times as the page's language writes them:
'1,234.5' and '12.50%' in English, '1 234,5' and '12,50 %' in Russian."""
from flask_babel import format_decimal, get_locale, get_translations
from jinja2 import pass_context
from markupsafe import Markup

DEFAULT = "en"
PERCENT_SIGN = {"ru": "\u00a0%"}  # Russian puts a (non-breaking) space before it


def language():
    """'en' or 'ru': the language texts are being rendered in (English outside a request)."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT


def number(value, digits=None):
    """An integer with the language's thousands separator, or a decimal with `digits` places."""
    if value is None:
        return ""
    pattern = "#,##0" if not digits else "#,##0." + "0" * digits
    return format_decimal(value, pattern)


def percent(value, digits=1):
    """A share given in percent (0–100), e.g. '12.5%' or '12,5 %'."""
    if value is None:
        return ""
    return number(value, digits) + PERCENT_SIGN.get(language(), "%")


def ngettext(singular, plural, num, **variables):
    """`flask_babel.ngettext` with `%(num)s` written as `number` writes it: '1,234 dialogs'."""
    variables.setdefault("num", number(num))
    return get_translations().ungettext(singular, plural, num) % variables


@pass_context
def counted_in_template(context, singular, plural, num, **variables):
    """Jinja's `ngettext` (newstyle: escaped like any other expression), with numbers
    written as `number` writes them."""
    variables.setdefault("num", number(num))
    translated = get_translations().ungettext(singular, plural, num)
    if context.eval_ctx.autoescape:
        translated = Markup(translated)
    return translated % variables
