"""The report filters (agents, period, channels, outcomes) as a form, shared by Analytics and
the dialog lists so that a link carries the same filters from one to the other."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, ValidationError

from access.visibility import visible_agents
from blueprints.fields import CheckboxesField
from models import Channel
from outcomes import LABELS as OUTCOME_LABELS
from outcomes.rules import OUTCOMES
from reporting import periods

FILTER_FIELDS = ("agents", "date_from", "date_to", "channels", "outcomes")
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(2100, 12, 31)  # the events' range, with room for time zones


class PeriodFilterForm(FlaskForm):
    """Agents, a period, channels and outcomes: what every report and dialog list counts."""

    agents = CheckboxesField(_l("Agents"), coerce=int, unknown=_l("An agent picked is not one you can see: pick from the list."))
    date_from = DateField(_l("From"), validators=[InputRequired(message=_l("Pick a start date."))])
    date_to = DateField(_l("To"), validators=[InputRequired(message=_l("Pick an end date."))])
    channels = CheckboxesField(_l("Channels"))
    outcomes = CheckboxesField(_l("Outcomes"), choices=[SelectChoice(key, label) for key, label in OUTCOME_LABELS.items()])

    def validate_agents(self, field):
        if not field.data and not field.errors:
            raise ValidationError(_("Pick at least one agent."))

    def validate_channels(self, field):
        most = current_app.config["FILTER_MAX_CHANNELS"]
        if len(field.data or ()) > most:
            raise ValidationError(_("Pick at most %(num)s channels, or none for all of them.", num=most))

    def validate_date_from(self, field):
        within_supported_dates(field)

    def validate_date_to(self, field):
        within_supported_dates(field)
        if self.date_from.data and field.data and field.data < self.date_from.data:
            raise ValidationError(_("To must be on or after From."))


def within_supported_dates(field):
    if field.data and not EARLIEST_DATE <= field.data <= LATEST_DATE:
        raise ValidationError(_("Pick a date between %(first)s and %(last)s.", first=EARLIEST_DATE, last=LATEST_DATE))


def today():
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


def filter_form(form_class, formdata=None):
    """A filter form with the choices this account may pick from."""
    form = form_class(formdata, meta={"csrf": request.method == "POST"})
    agents = list(visible_agents(g.account))
    form.agents.choices = [(a.id, a.name) for a in agents]
    channel_names = (
        Channel.select(Channel.name).where(Channel.agent.in_([a.id for a in agents])).distinct().order_by(Channel.name)
    )
    form.channels.choices = [(c.name, c.name) for c in channel_names]
    if not formdata:
        form.agents.data = form.agents.data or [a.id for a in agents]
        form.date_from.data = form.date_from.data or today() - timedelta(days=29)
        form.date_to.data = form.date_to.data or today()
    return form


def link_filters(args):
    """The filters of a link (a bookmark, a redirect, `?agents=1`, `?view=slot-funnel`):
    a missing period is the default one, and a link naming no filter at all shows
    every agent, as the page does when opened plainly."""
    if not args:
        return None
    filled = args.copy()
    filled.setdefault("date_from", (today() - timedelta(days=29)).isoformat())
    filled.setdefault("date_to", today().isoformat())
    if not any(name in args for name in FILTER_FIELDS):
        filled.setlist("agents", [str(agent.id) for agent in visible_agents(g.account)])
    return filled


def filters_from(form):
    return periods.Filters(
        agent_ids=tuple(sorted(form.agents.data)),
        date_from=form.date_from.data,
        date_to=form.date_to.data,
        channels=tuple(sorted(form.channels.data or ())),
        outcomes=chosen_outcomes(form.outcomes.data),
    )


def chosen_outcomes(keys):
    """The outcome keys in the order of OUTCOMES; all five are the same as none."""
    chosen = tuple(key for key in OUTCOMES if key in set(keys or ()))
    return () if len(chosen) == len(OUTCOMES) else chosen


def query_args(filters):
    """The filters as query parameters, so a link or redirect re-opens the same view."""
    return dict(
        agents=list(filters.agent_ids),
        date_from=filters.date_from.isoformat(),
        date_to=filters.date_to.isoformat(),
        channels=list(filters.channels),
        outcomes=list(filters.outcomes),
    )
