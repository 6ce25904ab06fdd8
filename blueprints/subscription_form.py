"""`Email me regularly`: the subscription form, shown beside the Analytics filters
and on a subscription's edit page."""
import calendar
import json
from datetime import time

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectField, TimeField
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, NumberRange, ValidationError

from blueprints.fields import CheckboxesField
from reporting.kinds import REPORTS as REPORT_KINDS
from subscriptions.schedules import Schedule, schedule_of


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
