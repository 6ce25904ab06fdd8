"""Every web form of Slotlens (WTForms through Flask-WTF, which adds CSRF tokens)."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200  # hashing is deliberately slow: bound the work one request can ask for
MAX_EMAIL_LENGTH = 254  # RFC 5321's limit for a forward path


def bounded(max_length, message):
    """Like Length(max=…), but a value over the limit is not shown back in the form."""

    def check(form, field):
        if field.data and len(field.data) > max_length:
            field.raw_data, field.data = [""], ""
            raise StopValidation(message)

    return check


EMAIL_BOUND = bounded(MAX_EMAIL_LENGTH, f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
PASSWORD_BOUND = bounded(MAX_PASSWORD_LENGTH, f"Use at most {MAX_PASSWORD_LENGTH} characters.")
NEW_PASSWORD = [
    DataRequired(),
    PASSWORD_BOUND,
    Length(min=MIN_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."),
]


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes, each with its own label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), EMAIL_BOUND])
    password = PasswordField("Password", validators=[DataRequired(), PASSWORD_BOUND])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), PASSWORD_BOUND])
    new = PasswordField("New password", validators=NEW_PASSWORD)
    repeat = PasswordField("New password again", validators=[EqualTo("new", message="The two new passwords differ.")])


class FilterForm(FlaskForm):
    """The Analytics filters; the same form previews and requests the export."""

    agents = CheckboxesField("Agents", coerce=int)
    date_from = DateField("From", validators=[InputRequired(message="Pick a start date.")])
    date_to = DateField("To", validators=[InputRequired(message="Pick an end date.")])
    channels = CheckboxesField("Channels")

    def validate_agents(self, field):
        if not field.data:
            raise ValidationError("Pick at least one agent.")

    def validate_date_to(self, field):
        if self.date_from.data and field.data and field.data < self.date_from.data:
            raise ValidationError("To must be on or after From.")


class AccountForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), EMAIL_BOUND, Email(message="Enter a valid email address.")])
    password = PasswordField("Password", validators=NEW_PASSWORD)
    is_admin = BooleanField("Admin")


class AgentForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])


class GrantForm(FlaskForm):
    account = SelectField("Account", coerce=int)
    agent = SelectField("Agent", coerce=int)
