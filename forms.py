"""Every web form of Slotlens (WTForms through Flask-WTF, which adds CSRF tokens)."""
import calendar
import json
from datetime import date, time

import email_validator
from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TimeField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from importers.csv_log import FIELDS as CSV_FIELDS, REQUIRED as CSV_REQUIRED, parse_sender_values, parse_timezone
from importers.jobs import KINDS as IMPORT_KINDS
from ingest.rules import CONTROL_MESSAGE, has_control
from reporting.kinds import KINDS as REPORT_KINDS
from subscriptions.schedules import Schedule, schedule_of

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
    """A multiple choice shown as a list of checkboxes, each with its own label.

    A value sent twice counts once, and checking the values against the choices
    takes one pass (WTForms' own check compares every value with every choice).
    """

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def process_formdata(self, valuelist):
        super().process_formdata(list(dict.fromkeys(valuelist)))

    def pre_validate(self, form):
        allowed = {choice.value if isinstance(choice, SelectChoice) else choice[0] for choice in self.choices}
        unknown = next((value for value in self.data or () if value not in allowed), None)
        if unknown is not None:
            raise ValidationError(f"'{unknown}' is not a valid choice for this field.")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), EMAIL_BOUND])
    password = PasswordField("Password", validators=[DataRequired(), PASSWORD_BOUND])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), PASSWORD_BOUND])
    new = PasswordField("New password", validators=NEW_PASSWORD)
    repeat = PasswordField("New password again", validators=[EqualTo("new", message="The two new passwords differ.")])


CSV_SEPARATORS = {
    ",": "Comma, decimal point: as the report has always been (LibreOffice, Google Sheets, Excel in English)",
    ";": "Semicolon, decimal comma: for Excel where numbers are written 3,5 (German, French, Spanish, …)",
}


class ReportFilesForm(FlaskForm):
    csv_separator = RadioField(
        "CSV files", choices=[SelectChoice(value, label) for value, label in CSV_SEPARATORS.items()], validators=[InputRequired()]
    )


class FilterForm(FlaskForm):
    """The Analytics filters; the same form previews and requests the export."""

    agents = CheckboxesField("Agents", coerce=int)
    date_from = DateField("From", validators=[InputRequired(message="Pick a start date.")])
    date_to = DateField("To", validators=[InputRequired(message="Pick an end date.")])
    channels = CheckboxesField("Channels")
    view = RadioField(
        "Preview",
        choices=[SelectChoice("stop-slots", "Stops"), SelectChoice("slot-funnel", "Funnel"), SelectChoice("slot-paths", "Paths")],
        default="stop-slots",
        validate_choice=False,  # an unknown view shows the default one
    )
    focus = StringField("Focus on slot", validators=[Optional(), Length(max=255)])

    def validate_agents(self, field):
        if not field.data:
            raise ValidationError("Pick at least one agent.")

    def validate_channels(self, field):
        most = current_app.config["FILTER_MAX_CHANNELS"]
        if len(field.data or ()) > most:
            raise ValidationError(f"Pick at most {most} channels, or none for all of them.")

    def validate_date_from(self, field):
        within_supported_dates(field)

    def validate_date_to(self, field):
        within_supported_dates(field)
        if self.date_from.data and field.data and field.data < self.date_from.data:
            raise ValidationError("To must be on or after From.")


EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(2100, 12, 31)  # the events' range, with room for time zones


def within_supported_dates(field):
    if field.data and not EARLIEST_DATE <= field.data <= LATEST_DATE:
        raise ValidationError(f"Pick a date between {EARLIEST_DATE} and {LATEST_DATE}.")


# A self-hosted tool's accounts may live on a local domain (the demo's is slotlens.local):
# whether mail arrives there is found out by sending, not by the form (email-validator
# documents removing names from this list to allow them).
for _name in ("local", "localhost"):
    if _name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove(_name)


class AccountForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), EMAIL_BOUND, Email(granular_message=True)])
    password = PasswordField("Password", validators=NEW_PASSWORD)
    is_admin = BooleanField("Admin")


class AgentForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])

    def validate_name(self, field):
        if has_control(field.data):
            raise ValidationError(f"The name {CONTROL_MESSAGE}.")


class GrantForm(FlaskForm):
    account = SelectField("Account", coerce=int)
    agent = SelectField("Agent", coerce=int)


class ImportForm(FlaskForm):
    """Admin → Import: a file, its kind, and for a CSV log how its columns map onto events."""

    agent = SelectField("Agent", coerce=int)
    kind = RadioField("What the file holds", choices=[SelectChoice(k, f"{name} ({hint})") for k, (name, hint) in IMPORT_KINDS.items()], default="events")
    upload = FileField("File", validators=[FileRequired("Choose the file to import.")])
    dialog_id = StringField("Dialog id column", validators=[Optional(), Length(max=200)])
    timestamp = StringField("Timestamp column", validators=[Optional(), Length(max=200)])
    sender = StringField("Sender column", validators=[Optional(), Length(max=200)])
    channel = StringField("Channel column (optional)", validators=[Optional(), Length(max=200)])
    slot = StringField("Slot column (optional)", validators=[Optional(), Length(max=200)])
    text = StringField("Text column (optional)", validators=[Optional(), Length(max=200)])
    sender_values = StringField("Sender values (optional)", validators=[Optional(), Length(max=500)],
                                description="How the file names senders, e.g. user=client,bot=operator")
    timezone = StringField("Time zone of times without an offset", validators=[Optional(), Length(max=100)])

    def csv_options(self):
        """The CSV mapping as import-csv's options take it; ValidationError beside the field at fault."""
        given = {name: (getattr(self, name).data or "").strip() for name in CSV_FIELDS}
        mapping = {name: column for name, column in given.items() if column}
        for name in CSV_REQUIRED:
            if name not in mapping:
                getattr(self, name).errors.append("Name the column that holds this (its header).")
        options = {"mapping": mapping, "sender_values": {}, "timezone": (self.timezone.data or "").strip()}
        try:
            options["sender_values"] = parse_sender_values(self.sender_values.data)
        except ValueError as exc:
            self.sender_values.errors.append(str(exc).removeprefix("--sender-values: "))
        try:
            parse_timezone(options["timezone"])
        except ValueError as exc:
            self.timezone.errors.append(str(exc).removeprefix("--timezone: "))
        has_errors = any(getattr(self, name).errors for name in (*CSV_FIELDS, "sender_values", "timezone"))
        return None if has_errors else options


class SubscriptionForm(FlaskForm):
    """`Email me regularly`: which reports, how often and when, for the filters beside it."""

    kinds = CheckboxesField("Reports", choices=[SelectChoice(key, kind.LABEL) for key, kind in REPORT_KINDS.items()])
    frequency = RadioField("Frequency", choices=[SelectChoice("daily", "Daily"), SelectChoice("weekly", "Weekly"),
                                                 SelectChoice("monthly", "Monthly")], default="weekly")
    weekday = SelectField("Weekday", coerce=int, default=0,
                          choices=[SelectChoice(n, name) for n, name in enumerate(calendar.day_name)])
    day = IntegerField("Day of month", default=1, validators=[InputRequired("Pick a day from 1 to 28."),
                                                               NumberRange(1, 28, "Pick a day from 1 to 28 (every month has it).")])
    at = TimeField("Time", default=time(9, 0), validators=[InputRequired("Pick a time of day, e.g. 09:00.")])
    skip_empty = BooleanField("Skip empty")

    def validate_kinds(self, field):
        if not field.data:
            raise ValidationError("Pick at least one report.")

    def schedule(self):
        return Schedule(self.frequency.data, self.at.data, self.weekday.data, self.day.data)

    def settings(self):
        """The Subscription fields this form sets."""
        return dict(kinds=json.dumps(self.kinds.data), frequency=self.frequency.data, weekday=self.weekday.data,
                    day=self.day.data, at=f"{self.at.data:%H:%M}", skip_empty=self.skip_empty.data)

    @classmethod
    def of(cls, subscription):
        """The form filled in from a stored subscription (the edit page)."""
        schedule = schedule_of(subscription)
        return cls(formdata=None, meta={"csrf": False}, kinds=json.loads(subscription.kinds), frequency=schedule.frequency,
                   weekday=schedule.weekday, day=schedule.day, at=schedule.at, skip_empty=subscription.skip_empty)
