"""`Alert me`: the alert form, on the EXPORT panel and on an alert's edit page."""
import json
from datetime import time
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, IntegerField, RadioField, SelectField, TimeField
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, NumberRange, ValidationError

from alerts.watching import DIRECTIONS, WATCHES
from subscriptions.schedules import WEEKDAYS, schedule_of

PREFIX = "alert"  # its fields' names, apart from the subscription form's beside it


class AlertForm(FlaskForm):
    """What to watch, how much worse is worth an email, and when to check."""

    watch = RadioField(_l("Watch"), choices=[SelectChoice(key, label) for key, label in WATCHES.items()], default="exit-rate")
    direction = SelectField(_l("Change"), choices=[SelectChoice(key, label) for key, label in DIRECTIONS.items()], default="rises")
    threshold = DecimalField(_l("At least (percentage points)"), places=2, default=Decimal("5.00"), validators=[
        InputRequired(_l("Say by how many percentage points, e.g. 5."))])
    min_dialogs = IntegerField(_l("Minimum dialogs"), default=30, validators=[
        InputRequired(_l("Say how many dialogs each period needs, e.g. 30.")),
        NumberRange(1, 10_000_000, _l("Pick a whole number of dialogs from 1 to 10,000,000."))])
    only_significant = BooleanField(_l("Only significant changes"), default=True)
    frequency = RadioField(_l("How often to check"), choices=[SelectChoice("daily", _l("Daily")), SelectChoice("weekly", _l("Weekly"))], default="daily")
    weekday = SelectField(_l("Weekday"), coerce=int, default=0, choices=[SelectChoice(n, name) for n, name in enumerate(WEEKDAYS)])
    at = TimeField(_l("Time"), default=time(9, 0), validators=[InputRequired(_l("Pick a time of day, e.g. 09:00."))])

    def validate_threshold(self, field):
        """0.01 to 100, in hundredths at most: the threshold is kept exact, never rounded."""
        value = field.data
        if not value.is_finite() or not Decimal("0.01") <= value <= 100 or value != value.quantize(Decimal("0.01")):
            raise ValidationError(_("Pick between 0.01 and 100 percentage points, with at most two decimals."))

    def settings(self):
        """The Alert fields this form sets (the threshold in hundredths of a point)."""
        return dict(watch=self.watch.data, direction=self.direction.data, threshold=int(self.threshold.data * 100),
                    min_dialogs=self.min_dialogs.data, only_significant=self.only_significant.data,
                    frequency=self.frequency.data, weekday=self.weekday.data, at=f"{self.at.data:%H:%M}")

    @classmethod
    def of(cls, alert):
        """The form filled in from a stored alert (the edit page)."""
        schedule = schedule_of(alert)
        return cls(formdata=None, meta={"csrf": False}, prefix=PREFIX, watch=alert.watch, direction=alert.direction,
                   threshold=Decimal(alert.threshold) / 100, min_dialogs=alert.min_dialogs,
                   only_significant=alert.only_significant, frequency=schedule.frequency, weekday=schedule.weekday, at=schedule.at)


def alert_form(formdata=None):
    return AlertForm(formdata, meta={"csrf": False}, prefix=PREFIX)


def stored_settings(filters, form):
    """An Alert's fields for the Analytics filters (agents, channels) and the form."""
    return dict(agents=json.dumps(list(filters.agent_ids)), channels=json.dumps(list(filters.channels)), **form.settings())
