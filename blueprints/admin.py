"""Admin pages: accounts, agents (with their API key shown once and their outcome rules) and grants."""
import re
from datetime import timedelta

import email_validator
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from peewee import IntegrityError, fn
from wtforms import BooleanField, EmailField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from access import api_keys, password_links, passwords, removal, sessions, tokens
from export_queue.health import queue_health
from blueprints.fields import EMAIL_BOUND, AgentForm
from blueprints.guards import admin_required
from database import db
from ingest import traffic
from languages.formats import language, ngettext
from models import Account, Agent, DailyReach, Grant, Slot, utcnow
from outcomes import evaluation, recompute
from outcomes import rules as outcome_rules
from privacy import audit
from privacy.masking import MAX_ALSO_MASK, compile_also_mask
from reporting import periods
from reporting.localtime import format_date, to_local
from subscriptions import notes
from subscriptions.lists import due_within, failed_runs

bp = Blueprint("admin", __name__, url_prefix="/admin")

# A self-hosted tool's accounts may live on a local domain (the demo's is slotlens.local):
# whether mail arrives there is found out by sending, not by the form (email-validator
# documents removing names from this list to allow them).
for _name in ("local", "localhost"):
    if _name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove(_name)


class EmailAddress(Email):
    """email-validator's own reason in English (it speaks no other language), a sentence
    of ours in any other."""

    def __init__(self):
        super().__init__(granular_message=True)

    def __call__(self, form, field):
        try:
            super().__call__(form, field)
        except ValidationError:
            if language() == "en":
                raise
            raise ValidationError(_("This does not look like an email address.")) from None


class AccountForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), EMAIL_BOUND, EmailAddress()])
    is_admin = BooleanField(_l("Make it an admin"))


class PrivacyForm(FlaskForm):
    """An agent's masking of personal data (SPEC "Personal data")."""

    mask_personal_data = BooleanField(_l("Mask personal data"))
    also_mask = TextAreaField(_l("Also mask"), validators=[Length(max=4000)])  # its hint: the template, up to MAX_ALSO_MASK

    def validate_also_mask(self, field):
        try:
            compile_also_mask(field.data or "")
        except ValueError as error:
            raise ValidationError(str(error)) from None


class GrantForm(FlaskForm):
    account = SelectField(_l("Account"), coerce=int)
    agent = SelectField(_l("Agent"), coerce=int)



def page(**forms):
    """The admin page with its three forms (any of them passed in with errors)."""
    accounts = list(Account.select().order_by(Account.email))
    agents = list(Agent.select().order_by(Agent.name))
    grant_form = forms.get("grant_form") or GrantForm()
    grant_form.account.choices = [(a.id, a.email) for a in accounts if not a.is_admin]
    grant_form.agent.choices = [(a.id, a.name) for a in agents]
    grants = (
        Grant.select(Grant, Account, Agent).join(Account).switch(Grant).join(Agent).order_by(Account.email, Agent.name)
    )
    return render_template(
        "admin/index.html",
        accounts=accounts,
        invited={a.id for a in accounts if not passwords.is_set(a)},
        agents=agents,
        grants=grants,
        account_form=forms.get("account_form") or AccountForm(formdata=None),
        agent_form=forms.get("agent_form") or AgentForm(formdata=None),
        grant_form=grant_form,
    )


def found(model, row_id):
    """The row of `model` with this id, or a 404."""
    row = model.get_or_none(model.id == row_id)
    if row is None:
        abort(404)
    return row


@bp.route("/")
@admin_required
def index():
    return page()


@bp.route("/accounts", methods=("POST",))
@admin_required
def create_account():
    """An account by invitation: it exists at once (it can be granted agents) and
    logs in once its owner has set a password from the invitation's link."""
    form = AccountForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        account = Account(email=email, is_admin=form.is_admin.data, password_hash=passwords.NOT_SET)
        try:
            with db.atomic():
                account.save()
        except IntegrityError:  # the unique index decides, even between two admins at once
            form.email.errors.append(_("An account with this email already exists."))
        else:
            password_links.send_link(account.id, tokens.INVITATION.name, language())  # the new account has no language yet
            flash(_("Account %(email)s created. An invitation to set a password is on its way; it works for 7 days.", email=email), "success")
            return redirect(url_for("admin.index"))
    return page(account_form=form), 400


@bp.route("/accounts/<int:account_id>/invite", methods=("POST",))
@admin_required
def invite_again(account_id):
    """A new invitation for an account whose owner has not joined yet (the earlier
    links keep working until they expire)."""
    account = found(Account, account_id)
    if passwords.is_set(account):
        flash(_("%(email)s has joined already: no invitation sent.", email=account.email), "error")
    else:
        password_links.send_link(account.id, tokens.INVITATION.name, language())
        flash(_("A new invitation is on its way to %(email)s; it works for 7 days.", email=account.email), "success")
    return redirect(url_for("admin.index"))


@bp.route("/accounts/<int:account_id>/<any(disable, enable):action>", methods=("POST",))
@admin_required
def set_account_disabled(account_id, action):
    """A disabled account is logged out at once and cannot log in until enabled again."""
    account = found(Account, account_id)
    if account.id == g.account.id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("admin.index"))
    account.is_disabled = action == "disable"
    account.save(only=[Account.is_disabled])  # a whole-row save would undo a password change made meanwhile
    if account.is_disabled:
        sessions.end_all(account)
    if account.is_disabled:
        flash(_("Account %(email)s disabled.", email=account.email), "success")
    else:
        flash(_("Account %(email)s enabled.", email=account.email), "success")
    return redirect(url_for("admin.index"))


@bp.route("/accounts/<int:account_id>/delete", methods=("POST",))
@admin_required
def delete_account(account_id):
    """Its subscriptions and alerts end, its reports' files go, its rows go; never
    oneself, never the last admin who can log in."""
    account = found(Account, account_id)
    why_not = removal.delete(g.account, account)
    if why_not:
        flash(why_not, "error")
    else:
        flash(_("Account %(email)s deleted, with its subscriptions, alerts and reports.", email=account.email), "success")
    return redirect(url_for("admin.index"))


@bp.route("/agents", methods=("POST",))
@admin_required
def create_agent():
    form = AgentForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        try:
            with db.atomic():
                agent, api_key = api_keys.create_agent(name)
        except IntegrityError:
            form.name.errors.append(_("An agent with this name already exists."))
        else:
            return show_key_once(agent, api_key)
    return page(agent_form=form), 400


def show_key_once(agent, api_key):
    """Redirect to the agent's page, which shows the key once: it waits server-side
    (`api_keys.hold`), so reloading the page sends nothing again and shows it no more."""
    api_keys.hold(agent, g.account, api_key)
    return redirect(url_for("admin.agent_page", agent_id=agent.id))


@bp.route("/agents/<int:agent_id>")
@admin_required
def agent_page(agent_id, privacy_form=None, outcomes=None):
    """Onboarding a bot: its key (once), ready commands for this server, whether data
    arrives, its name and slots (blueprints/catalogue.py), how its texts are masked,
    and its outcome rules."""
    agent = found(Agent, agent_id)
    now, tz_name = utcnow(), current_app.config["TIMEZONE"]
    today = to_local(now, tz_name).date()
    today_from_utc, _ = periods.period_bounds(today, today, tz_name)
    return render_template(
        "admin/agent.html",
        agent=agent,
        api_key=api_keys.take(agent, g.account),
        traffic=traffic.received(agent, since=today_from_utc),
        base_url=current_app.config["BASE_URL"],  # never the request's Host: a forged one would aim the commands elsewhere
        now=now.replace(microsecond=0),
        privacy_form=privacy_form or PrivacyForm(obj=agent),
        MAX_ALSO_MASK=MAX_ALSO_MASK,
        outcomes=outcomes or outcomes_section(agent),
        name_form=AgentForm(formdata=None, obj=agent),
        slots=slot_rows(agent),
        day=format_date,
    )


def slot_rows(agent):
    """The agent's slots by name, each with the first and last day (UTC) a counted dialog reached it."""
    seen = {slot_id: (first, last) for slot_id, first, last in (
        DailyReach.select(DailyReach.slot, fn.MIN(DailyReach.day), fn.MAX(DailyReach.day))
        .where((DailyReach.agent == agent) & (DailyReach.reached > 0)).group_by(DailyReach.slot).tuples())}
    return [(slot, *seen.get(slot.id, (None, None))) for slot in Slot.select().where(Slot.agent == agent).order_by(Slot.name, Slot.key)]


@bp.route("/agents/<int:agent_id>/privacy", methods=("POST",))
@admin_required
def set_privacy(agent_id):
    """Mask personal data on or off, and the team's own expressions; from the next event on."""
    agent = found(Agent, agent_id)
    form = PrivacyForm()
    if not form.validate_on_submit():
        flash(_("Personal data settings not saved: see what is wrong under Personal data below."), "error")
        return agent_page(agent_id, privacy_form=form), 400
    agent.mask_personal_data = form.mask_personal_data.data
    agent.also_mask = "\n".join(line.strip() for line in (form.also_mask.data or "").splitlines() if line.strip())
    agent.save(only=[Agent.mask_personal_data, Agent.also_mask])
    if agent.mask_personal_data:
        flash(_("Saved. %(agent)s's texts are masked from the next event on; texts already stored do not change.", agent=agent.name), "success")
    else:
        flash(_("Saved. %(agent)s's texts are not masked from the next event on; texts already stored do not change.", agent=agent.name), "success")
    return redirect(url_for("admin.agent_page", agent_id=agent.id))


# Outcomes: the agent's rules edited as a draft of numbered rows, all in one form, so
# that adding, moving and deleting work without JavaScript; nothing is stored until Save.
CHECK_DAYS = 30  # Check counts the counted dialogs that started this many days back
BLANK_RULE = {"outcome": "Completed", "condition": "", "slots": [], "type": "", "times": "1"}
RULE_ROW = re.compile(r"rule-(\d+)-outcome")


def rule_rows(rules):
    """Rules (`outcomes.rules.Rule`s) as the form's rows."""
    return [{"outcome": outcome_rules.OUTCOMES[rule.outcome], "condition": rule.condition, "slots": list(rule.keys),
             "type": rule.type, "times": str(rule.times)} for rule in rules]


def posted_rule_rows(form):
    """The form's rows in their order, as the admin left them."""
    positions = sorted(int(match.group(1)) for match in map(RULE_ROW.fullmatch, form) if match)
    return [{"outcome": form.get(f"rule-{i}-outcome", ""), "condition": form.get(f"rule-{i}-condition", ""),
             "slots": form.getlist(f"rule-{i}-slots"), "type": form.get(f"rule-{i}-type", ""),
             "times": form.get(f"rule-{i}-times", "").strip()} for i in positions]


def rule_item(row):
    """A row as the mapping `outcomes.rules.check` reads (as in a YAML file), with only
    the fields its condition uses: the others stay in the row, ignored."""
    item, condition, slots = {"outcome": row["outcome"] or None}, row["condition"], row["slots"]
    if condition == "reaches_type":
        item[condition] = row["type"]
    elif condition == "shows":
        item.update(shows=slots[0] if len(slots) == 1 else slots, times=whole_number(row["times"]))
    elif condition:
        item[condition] = slots
    return item


def whole_number(text):
    """The number typed, or the text itself for `check` to name as not one."""
    try:
        return int(text)
    except ValueError:
        return text


def edited(rows, action):
    """The rows after Add rule, Move up, Move down or Delete (`up-2`: the third row
    up); None for any other action."""
    if action == "add":
        return [*rows, dict(BLANK_RULE)]
    verb, _, position = action.partition("-")
    if verb not in ("up", "down", "delete") or not position.isdigit() or int(position) >= len(rows):
        return None
    rows, i = list(rows), int(position)
    if verb == "delete":
        del rows[i]
    else:
        j = i - 1 if verb == "up" else i + 1
        if 0 <= j < len(rows):
            rows[i], rows[j] = rows[j], rows[i]
    return rows


def outcomes_section(agent, rows=None, errors=(), checked=None):
    """What the Outcomes section shows: the rules in force in words; the form's rows
    (the stored rules, or the admin's draft) with the agent's slots and slot types to
    pick from; what is wrong with the draft, or what it would match (`checked`: its
    rules and `evaluation.first_matches`); and how far the recomputation has come."""
    stored = evaluation.stored_rules(agent.id)
    slots = list(Slot.select(Slot.key, Slot.name, Slot.type).where(Slot.agent == agent.id).order_by(Slot.name, Slot.key).tuples())
    names = {key: name for key, name, _ in slots}
    saved = rule_rows(stored)
    rows = saved if rows is None else rows
    matches = None
    if checked:
        rules, (taken, unmatched) = checked
        matches = {"rules": [(rule.in_words(names), count) for rule, count in zip(rules, taken)],
                   "unmatched": unmatched, "total": sum(taken) + unmatched}
    return {
        "in_force": [rule.in_words(names) for rule in stored],
        "rows": rows,
        "unsaved": [rule_item(row) for row in rows] != [rule_item(row) for row in saved],
        "errors": errors,
        "matches": matches,
        "outcome_labels": [(outcome_rules.OUTCOMES[key], outcome_rules.LABELS[key]) for key in outcome_rules.MATCHED],
        "conditions": outcome_rules.CONDITIONS,
        "slots": [(key, name) for key, name, _ in slots],
        "types": sorted({slot_type for _, _, slot_type in slots}),
        "progress": recompute.progress(agent),
        # read after the progress, not from `agent` (loaded with the request): a recomputation
        # that ended in between has set it, and the page would otherwise say neither
        "as_of": Agent.select(Agent.outcomes_as_of).where(Agent.id == agent.id).get().outcomes_as_of,
    }


@bp.route("/agents/<int:agent_id>/outcomes", methods=("POST",))
@admin_required
def set_outcomes(agent_id):
    """The Outcomes form: Add rule, Move up/down and Delete change the draft; Check
    says what it would match; Save puts it in force and has every dialog recomputed.
    Rules with any mistake are refused whole, every mistake named: the rules in force
    stay."""
    agent = found(Agent, agent_id)
    rows, action = posted_rule_rows(request.form), request.form.get("action", "check")
    moved = edited(rows, action)
    if moved is not None:
        return agent_page(agent_id, outcomes=outcomes_section(agent, moved))
    try:
        rules = outcome_rules.check([rule_item(row) for row in rows], recompute.slot_types(agent))
    except outcome_rules.RulesError as refused:
        if action == "save":
            flash(_("Outcome rules not saved: see what is wrong under Outcomes below. The rules in force stay as they were."), "error")
        return agent_page(agent_id, outcomes=outcomes_section(agent, rows, errors=refused.messages)), 400
    if action != "save":
        counts = evaluation.first_matches(agent.id, rules, utcnow() - timedelta(days=CHECK_DAYS))
        return agent_page(agent_id, outcomes=outcomes_section(agent, rows, checked=(rules, counts)))
    recompute.change_rules(agent, rules)
    flash(ngettext("Saved %(num)s outcome rule for %(agent)s. Its dialogs are being recomputed; reports wait for it.",
                   "Saved %(num)s outcome rules for %(agent)s. Its dialogs are being recomputed; reports wait for it.",
                   len(rules), agent=agent.name), "success")
    return redirect(url_for("admin.agent_page", agent_id=agent.id, _anchor="outcomes"))


@bp.route("/agents/<int:agent_id>/rotate-key", methods=("POST",))
@admin_required
def rotate_key(agent_id):
    """A new API key (shown once); the old one stops working at once."""
    agent = found(Agent, agent_id)
    flash(_("%(agent)s has a new API key. The old key no longer works: update the bot's settings now.", agent=agent.name), "success")
    return show_key_once(agent, api_keys.rotate(agent))


@bp.route("/grants", methods=("POST",))
@admin_required
def create_grant():
    form = GrantForm()
    form.account.choices = [(a.id, a.email) for a in Account.select()]
    form.agent.choices = [(a.id, a.name) for a in Agent.select()]
    if form.validate_on_submit():
        Grant.insert(account=form.account.data, agent=form.agent.data).on_conflict_ignore().execute()
        flash(_("Access granted."), "success")
        return redirect(url_for("admin.index"))
    return page(grant_form=form), 400


@bp.route("/grants/<int:grant_id>/delete", methods=("POST",))
@admin_required
def revoke_grant(grant_id):
    grant = found(Grant, grant_id)
    grant.delete_instance()
    flash(_("Access revoked."), "success")
    return redirect(url_for("admin.index"))


@bp.route("/queue")
@admin_required
def queue():
    """Queue health: depth, oldest waiting, late requests, failures, click-to-email;
    and the scheduled reports due in the next 24 hours, and those that failed lately."""
    now, tz_name = utcnow(), current_app.config["TIMEZONE"]
    return render_template(
        "admin/queue.html",
        health=queue_health(),
        due_soon=due_within(now, tz_name),
        failed_runs=failed_runs(since=now - timedelta(days=7)),
        run_note=lambda run: notes.in_words(run, tz_name),
        day=format_date,
    )


@bp.route("/audit")
@admin_required
def audit_log():
    """Who read which transcript and asked for which transcripts, newest first; by
    account and agent. Read only: no page changes or deletes an entry."""
    account_id, agent_id = request.args.get("account", type=int), request.args.get("agent", type=int)
    found = audit.entries(account_id, agent_id, before_id=request.args.get("before", type=int))
    older = None
    if len(found) == audit.PAGE_SIZE:
        older = url_for("admin.audit_log", account=account_id, agent=agent_id, before=found[-1].id)
    return render_template(
        "admin/audit.html", entries=found, older_url=older, account_id=account_id, agent_id=agent_id,
        accounts=Account.select(Account.id, Account.email).order_by(Account.email),
        agents=Agent.select(Agent.id, Agent.name).order_by(Agent.name),
        asked_for=audit.asked_for, request_named=audit.request_named, day=format_date,
    )
