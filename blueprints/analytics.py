"""The Analytics tab: filters, a preview of the three reports, and the EXPORT panel."""
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, SelectMultipleField
from wtforms.fields import SelectChoice
from wtforms.validators import ValidationError

from alerts import checks as alert_checks
from alerts import watching
from alerts.emails import checked_when
from blueprints.alert_form import alert_form, stored_settings
from blueprints.export_requests import queue_export
from blueprints.filter_form import PeriodFilterForm, filter_form, filters_from, link_filters, query_args, today
from blueprints.guards import login_required
from blueprints.subscription_form import SubscriptionForm
from comparison import previews
from comparison.periods import COMPARISONS, both_in_words, period_before
from models import Agent, utcnow
from outcomes import LABELS as OUTCOME_LABELS
from outcomes import recompute
from outcomes.rules import OUTCOMES
from reporting import kinds
from reporting.files import share_percent
from reporting.kinds import outcomes, slot_funnel, slot_paths, stop_slots
from subscriptions.sweep import subscribe
from subscriptions.wording import in_words, subscription_summary

bp = Blueprint("analytics", __name__)

PREVIEW_TOP = 10  # slots shown in each agent's chart
FUNNEL_WORST = 3  # highest exit rates marked in the funnel preview
PATHS_TOP = 15  # steps shown in the paths preview


class FilterForm(PeriodFilterForm):
    """The Analytics filters and its view; the same form previews and requests the export."""

    view = RadioField(
        _l("Preview"),
        choices=[SelectChoice("stop-slots", _l("Stops")), SelectChoice("slot-funnel", _l("Funnel")), SelectChoice("slot-paths", _l("Paths"))],
        default="stop-slots",
        validate_choice=False,  # an unknown view shows the default one
    )
    focus = SelectMultipleField(_l("Focus on slot"), validate_choice=False)  # "<agent id>:<slot key>", one per agent
    compare = SelectField(_l("Compare with"), choices=[SelectChoice("", _l("Nothing")), *(SelectChoice(*pair) for pair in COMPARISONS.items())], default="",
                          validate_choice=False)  # an unknown comparison compares with nothing

    def validate_focus(self, field):
        if any(len(value) > MAX_FOCUS_LENGTH for value in field.data):
            raise ValidationError(_("That focus slot is not one of the agents' slots."))


MAX_FOCUS_LENGTH = 300  # an agent id, a colon and a slot key of at most 255 characters


def focus_by_agent(values):
    """The Paths focus per agent from the `focus` values, each "<agent id>:<slot key>"
    (a bare slot key, from a link older than the per-agent picker, applies to every agent)."""
    chosen = {}
    for value in values or ():
        agent_id, separator, key = value.partition(":")
        if separator and agent_id.isdigit():
            chosen[int(agent_id)] = key
        else:
            chosen.setdefault(None, value)
    return chosen


def date_presets(day):
    """(label, from, to) of the periods people ask for most, ending `day`."""
    first_of_month = day.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    return [
        (_("Last 7 days"), day - timedelta(days=6), day),
        (_("Last 30 days"), day - timedelta(days=29), day),
        (_("This month"), first_of_month, day),
        (_("Last month"), last_month_end.replace(day=1), last_month_end),
    ]


def preview(filters):
    """Per agent: counted dialogs and the top stop slots (the rest as one "Other" bar),
    each split by outcome once the agent has outcome rules: where the abandoned
    dialogs end is the real drop-off map."""
    tz = current_app.config["TIMEZONE"]
    result = []
    for agent in previewed_agents(filters):
        counts = stop_slots.sort_counts(stop_slots.stop_slot_counts(agent.id, filters, tz))
        total = sum(c.dialogs for c in counts)
        bars = [(c.label if c.key is not None else _("(no slot)"), c.dialogs) for c in counts[:PREVIEW_TOP]]
        rest = counts[PREVIEW_TOP:]
        if rest:
            bars.append((_("Other slots (%(num)s)", num=len(rest)), sum(c.dialogs for c in rest)))
        keys = [c.key for c in counts[:PREVIEW_TOP]]  # the bars' slots; the "Other" bar has none
        by_stop = stops_per_outcome(agent, filters)
        result.append(dict(agent=agent, total=total, bars=bars, keys=keys, slots=len(counts), counts={c.key: c.dialogs for c in counts},
                           segments=outcome_segments(by_stop, keys, bool(rest)), **headline(agent, filters, by_stop)))
    return result


def stops_per_outcome(agent, filters):
    """The agent's counted dialogs per stop slot key and outcome (`outcomes.stops_by_outcome`,
    one query that the bars, the rates and the Paths focus share); None for an agent
    without rules."""
    if not outcomes.has_rules(agent.id):
        return None
    return outcomes.stops_by_outcome(agent.id, filters, current_app.config["TIMEZONE"])


def outcome_segments(by_stop, keys, other_bar):
    """For each bar (the slots of `keys`, then "Other" if shown), its dialogs per
    outcome as [(outcome key, label in the page's language, dialogs)]; None for an agent without rules."""
    if by_stop is None:
        return None
    bars = [by_stop.get(key, {}) for key in keys]
    if other_bar:
        bars.append(sum((counts for key, counts in by_stop.items() if key not in keys), Counter()))
    return [[(key, label, bar.get(key, 0)) for key, label in OUTCOME_LABELS.items() if bar.get(key, 0)] for bar in bars]


def headline(agent, filters, by_stop):
    """Containment and Completion of the agent's dialogs for the filters, with the
    outcome counts behind them (none without dialogs), from `stops_per_outcome`; only
    `has_rules` for an agent without rules."""
    if by_stop is None:
        return dict(has_rules=False)
    counts = outcomes.total(by_stop)
    if not sum(counts.values()):
        return dict(has_rules=True)
    recomputing = recompute.progress(agent)
    containment, completion = outcomes.rates(counts)
    return dict(has_rules=True, outcome_counts=counts, containment=containment, completion=completion, recomputing=recomputing,
                contained_args=dict(outcomes=within(filters, [key for key in OUTCOMES if key != "escalated"])),
                completed_args=dict(outcomes=within(filters, ["completed"])))


def within(filters, keys):
    """The outcomes of `keys` the filters let through: the list behind a rate keeps the filters."""
    return [key for key in keys if not filters.outcomes or key in filters.outcomes]


def previewed_agents(filters):
    return Agent.select().where(Agent.id.in_(list(filters.agent_ids))).order_by(Agent.name)


def funnel_preview(filters):
    """Per agent: every reached slot with the CSV's figures (reached, times shown, stopped, exit rate, reach); the worst exits marked."""
    tz = current_app.config["TIMEZONE"]
    result = []
    for agent in previewed_agents(filters):
        steps = slot_funnel.funnel(agent.id, filters, tz)
        rates = {s.key: float(slot_funnel.exit_rate(s)) for s in steps}
        total = slot_funnel.counted(steps)
        worst = sorted((s for s in steps if s.key is not None), key=lambda s: -rates[s.key])[:FUNNEL_WORST]
        result.append(dict(
            agent=agent, total=total, steps=steps, rates=rates, reach={s.key: float(share_percent(s.reached, total)) for s in steps},
            worst={s.key for s in worst if rates[s.key]}, **headline(agent, filters, stops_per_outcome(agent, filters)),
        ))
    return result


def paths_preview(filters, focus):
    """Per agent: the top steps, and where the dialogs of one slot (the agent's in
    `focus_by_agent` form, else the one where most were lost) came from and went next."""
    tz = current_app.config["TIMEZONE"]
    result = []
    for agent in previewed_agents(filters):
        found = slot_paths.steps(agent.id, filters, tz)
        slots = sorted({(s.to_key, s.to_name) for s in found if s.to_key is not None}, key=lambda slot: slot[1])
        by_stop = stops_per_outcome(agent, filters)
        chosen = focus.get(agent.id, focus.get(None))
        focused = chosen if chosen in {key for key, _name in slots} else most_lost(found, by_stop)
        result.append(dict(
            agent=agent,
            total=slot_paths.counted(found),
            found=found,
            top=found[:PATHS_TOP],
            share=slot_paths.shares(found),
            slots=slots,
            focus=focused,
            came_from=[s for s in found if s.to_key == focused and focused is not None],
            went_to=[s for s in found if s.from_key == focused and focused is not None],
            **headline(agent, filters, by_stop),
        ))
    return result


def most_lost(found, by_stop):
    """The slot where most dialogs were lost: the most stops (of the paths `found`) at a
    slot that other dialogs went on from (not the natural end of the script), or,
    once the agent has outcome rules (`stops_per_outcome`), the most stops that did not
    end well (never a thank-you or a handover where dialogs end by design); None when
    no dialog was lost at a slot."""
    if by_stop is None:
        exits = [s for s in found if s.to_key is None and s.from_key is not None]
        leads_on = {s.from_key for s in found if s.to_key is not None}
        unplanned = [s for s in exits if s.from_key in leads_on] or exits  # a slot that never leads on is the script's end
        return max(unplanned, key=lambda s: s.transitions).from_key if unplanned else None
    lost = {key: outcomes.lost(counts) for key, counts in by_stop.items() if key is not None and outcomes.lost(counts)}
    return max(sorted(lost), key=lambda key: lost[key]) if lost else None


PREVIEWS = {
    "stop-slots": lambda filters, form: preview(filters),
    "slot-funnel": lambda filters, form: funnel_preview(filters),
    "slot-paths": lambda filters, form: paths_preview(filters, focus_by_agent(form.focus.data)),
}


@bp.route("/analytics", methods=("GET", "POST"))
@login_required
def index():
    formdata = request.form if request.method == "POST" else link_filters(request.args)
    form = filter_form(FilterForm, formdata)
    valid = form.validate() if formdata is not None else True
    action = request.form.get("action", "") if request.method == "POST" else ""
    subscription_form = SubscriptionForm(request.form if action == "subscribe" else None, meta={"csrf": False})
    if action != "subscribe":
        subscription_form.kinds.data = [view_of(form)]  # the report the page is showing
    if action == "subscribe" and subscription_form.validate() and valid and subscribe_to(filters_from(form), subscription_form):
        return redirect(url_for("subscriptions.index"))
    watch_form = alert_form(request.form if action == "alert" else None)
    if action == "alert" and watch_form.validate() and valid and alert_on(filters_from(form), watch_form):
        return redirect(url_for("subscriptions.index"))
    kind = export_kind(action) if action not in ("subscribe", "alert") else None
    if kind and valid:
        queue_export(filters_from(form), kind)
        return redirect(url_for("analytics.index", **place_of(form)))
    if action == "preview" and valid:  # Show, without JavaScript: the view gets its own address
        return redirect(url_for("analytics.index", **place_of(form)))
    view = view_of(form)
    shown = PREVIEWS[view](filters_from(form), form) if valid and form.agents.data else None
    before = earlier_filters(form) if shown else None
    if before:
        shown = previews.compared(view, shown, PREVIEWS[view](before, form))
    return render_template(
        "analytics/index.html",
        form=form,
        subscription_form=subscription_form,
        alert_form=watch_form,
        subscription_when=in_words(subscription_form.schedule(), utcnow(), current_app.config["TIMEZONE"]) if not subscription_form.errors else "",
        valid=valid,
        view=view,
        preview=shown,
        list_args=query_args(filters_from(form)) if shown is not None else None,
        before_args=query_args(before) if before else None,
        compared=both_in_words((form.date_from.data, form.date_to.data), (before.date_from, before.date_to)) if before else None,
        presets=date_presets(today()),
        today=today(),
        timezone=current_app.config["TIMEZONE"],
    )


def place_of(form):
    """Everything the page shows as query parameters (filters, view, focus,
    comparison), so that an export, a reload or a shared link comes back to it."""
    return dict(query_args(filters_from(form)), view=view_of(form), focus=form.focus.data or [], compare=comparison_of(form) or None)


def comparison_of(form):
    """The chosen `Compare with` (a key of COMPARISONS), or "" for nothing."""
    return form.compare.data if form.compare.data in COMPARISONS else ""


def earlier_filters(form):
    """The filters for the period `Compare with` asks for; None when it asks for nothing."""
    comparison = comparison_of(form)
    if not comparison:
        return None
    first, last = period_before(form.date_from.data, form.date_to.data, comparison)
    return replace(filters_from(form), date_from=first, date_to=last)


def subscribe_to(filters, subscription_form):
    """Turn the filters into a subscription and say, in words, when its first email
    comes; or, at the account's limit, say so beside the form. True when subscribed."""
    most = current_app.config["SUBSCRIPTION_MAX_PER_ACCOUNT"]
    subscription = subscribe(g.account, filters, subscription_form.settings(), most)
    if subscription is None:
        subscription_form.form_errors.append(
            _("You have %(num)s subscriptions, the most one account may have. Delete one on Subscriptions to make room.", num=most))
        return False
    flash(_("Subscribed. %(summary)s.", summary=subscription_summary(subscription, current_app.config["TIMEZONE"])), "success")
    return True


def alert_on(filters, form):
    """Make an alert for the filters' agents and channels and check it at once (its
    first email, if any, covers the latest complete period); or, at the account's
    limit, say so beside the form. True when made."""
    most = current_app.config["SUBSCRIPTION_MAX_PER_ACCOUNT"]
    made = alert_checks.create(g.account, stored_settings(filters, form), most)
    if made is None:
        form.form_errors.append(_("You have %(num)s alerts, the most one account may have. Delete one on Subscriptions to make room.", num=most))
        return False
    alert_checks.check_alerts_now()
    flash(_("Alert made: %(what)s, checked %(when)s. The latest complete period is being checked now; an email comes only if something crossed the threshold.",
            what=watching.threshold_words(made), when=checked_when(made, current_app.config["TIMEZONE"])), "success")
    return True


def view_of(form):
    return form.view.data if form.view.data in PREVIEWS else "stop-slots"


def export_kind(action):
    """The report kind an EXPORT button asks for: `export` is Stop slots, `export:<kind>` another; None otherwise."""
    if action == "export":
        return kinds.DEFAULT
    name, _colon, kind = action.partition(":")
    if name != "export":
        return None
    if kind not in kinds.REPORTS:
        abort(400, _("There is no report called %(name)s.", name=repr(kind)))
    return kind

