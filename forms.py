"""Every web form of Slotlens (WTForms through Flask-WTF, which adds CSRF tokens)."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

MIN_PASSWORD_LENGTH = 10


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes, each with its own label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


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
    email = EmailField("Email", validators=[DataRequired(), Email(message="Enter a valid email address.")])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(),
            Length(min=MIN_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."),
        ],
    )
    is_admin = BooleanField("Admin")


class AgentForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])


class GrantForm(FlaskForm):
    account = SelectField("Account", coerce=int)
    agent = SelectField("Agent", coerce=int)
