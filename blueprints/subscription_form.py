"""`Email me regularly`: the subscription form, shown beside the Analytics filters
and on a subscription's edit page."""
import json
from datetime import time

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectField, TimeField
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, NumberRange, ValidationError

from blueprints.fields import CheckboxesField
from reporting.kinds import REPORTS as REPORT_KINDS
from subscriptions.schedules import WEEKDAYS, Schedule, schedule_of


class SubscriptionForm(FlaskForm):
    """`Email me regularly`: which reports, how often and when, for the filters beside it."""

    kinds = CheckboxesField(_l("Reports"), choices=[SelectChoice(key, kind.LABEL) for key, kind in REPORT_KINDS.items()])
    frequency = RadioField(_l("Frequency"), choices=[SelectChoice("daily", _l("Daily")), SelectChoice("weekly", _l("Weekly")),
                                                     SelectChoice("monthly", _l("Monthly"))], default="weekly")
    weekday = SelectField(_l("Weekday"), coerce=int, default=0, choices=[SelectChoice(n, name) for n, name in enumerate(WEEKDAYS)])
    day = IntegerField(_l("Day of month"), default=1, validators=[
        InputRequired(_l("Pick a day from 1 to 28.")), NumberRange(1, 28, _l("Pick a day from 1 to 28 (every month has it)."))])
    at = TimeField(_l("Time"), default=time(9, 0), validators=[InputRequired(_l("Pick a time of day, e.g. 09:00."))])
    skip_empty = BooleanField(_l("Skip empty"))

    def validate_kinds(self, field):
        if not field.data:
            raise ValidationError(_("Pick at least one report."))

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
