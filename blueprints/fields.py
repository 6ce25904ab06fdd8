"""Form pieces more than one blueprint's forms use: bounded text, the password rules,
checkboxes for a multiple choice, and an agent's name."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from access.logins import MAX_EMAIL_LENGTH
from access.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from ingest.rules import has_control


def bounded(max_length, message):
    """Like Length(max=…), but a value over the limit is not shown back in the form."""

    def check(form, field):
        if field.data and len(field.data) > max_length:
            field.raw_data, field.data = [""], ""
            raise StopValidation(message)

    return check


EMAIL_BOUND = bounded(MAX_EMAIL_LENGTH, _l("An email address has at most %(max)s characters.", max=MAX_EMAIL_LENGTH))
PASSWORD_BOUND = bounded(MAX_PASSWORD_LENGTH, _l("Use at most %(max)s characters.", max=MAX_PASSWORD_LENGTH))
NEW_PASSWORD = [
    DataRequired(),
    PASSWORD_BOUND,
    Length(min=MIN_PASSWORD_LENGTH, message=_l("Use at least %(min)s characters.", min=MIN_PASSWORD_LENGTH)),
]


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes, each with its own label.

    A value sent twice counts once, an empty one (`?agents=`) not at all, and checking
    the values against the choices takes one pass (WTForms' own check compares every
    value with every choice). A value that is not one of the choices, or cannot be
    (`unknown`: what to say then, e.g. for ids a person never sees), is one error.
    """

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, *args, unknown=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.unknown = unknown

    def process_formdata(self, valuelist):
        try:
            self.data = [self.coerce(value) for value in dict.fromkeys(valuelist) if value != ""]
        except ValueError:
            self.data = None
            raise ValueError(self.unknown or _("Pick from the list.")) from None

    def pre_validate(self, form):
        if self.process_errors:
            return
        allowed = {choice.value if isinstance(choice, SelectChoice) else choice[0] for choice in self.choices}
        unknown = next((value for value in self.data or () if value not in allowed), None)
        if unknown is not None:
            raise ValidationError(self.unknown or _("'%(value)s' is not a valid choice for this field.", value=unknown))


class AgentForm(FlaskForm):
    """An agent's name: Admin's New agent and the agent page's Rename."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])

    def validate_name(self, field):
        if has_control(field.data):
            # ingest.rules.CONTROL_MESSAGE, in a sentence of its own so that it translates whole
            raise ValidationError(_("The name must not contain control characters (line breaks, tabs and the like)."))
