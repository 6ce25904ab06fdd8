"""An agent's name and slot catalogue, edited by an admin on the agent's page: rename
or archive the agent, and rename, retype or reword its slots one by one or as a file
(the list `PUT /api/v1/slots` takes, as CSV or JSON). Slots are checked by the API's
own rules (`rules.validate_slots`), and reports read names at query time, so a rename
shows everywhere at once. What is refused is said in a message above the page (the
form's values are few and short, so nothing long is lost by the redirect)."""
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from peewee import IntegrityError
from playhouse.flask_utils import get_object_or_404
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired

from blueprints.fields import AgentForm
from blueprints.guards import admin_required
from database import db
from ingest import catalogue, rules, writer
from languages import stored
from models import Agent, Slot, utcnow

bp = Blueprint("catalogue", __name__, url_prefix="/admin/agents")


class SlotForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("A slot needs a name."))])
    type = StringField(_l("Type"), validators=[DataRequired(_l("A slot needs a type, e.g. question or message."))])
    text = TextAreaField(_l("Bot text"))


def store(agent, entries, first_row=None):
    """Check entries of a catalogue by the API's rules and store them; the errors in
    words, or []. `first_row`: the spreadsheet row of the first entry of a CSV."""
    slots, errors = rules.validate_slots(entries, rules.Limits.from_config(current_app.config))
    if errors:
        return [described(error, entries, first_row) for error in errors]
    writer.upsert_slots(agent, slots)
    return []


FIELDS = {"key": _l("key"), "name": _l("name"), "type": _l("type"), "text": _l("text")}


def described(error, entries, first_row):
    """An error of `rules.validate_slots` as a sentence a person finds in the file, in
    the page's language: "Row 8 (key “guests”), name: must not be empty" (a JSON
    list's: "Entry 7 …"); the API says the same in English."""
    index, field = error["index"], error["field"]
    if index is None or len(entries) == 1:
        where = "" if index is not None else _("The file")
    else:
        entry = entries[index]
        key = entry.get("key") if isinstance(entry, dict) and isinstance(entry.get("key"), str) and entry.get("key") else None
        if first_row:
            where = _("Row %(num)s (key “%(key)s”)", num=index + first_row, key=key) if key else _("Row %(num)s", num=index + first_row)
        else:
            where = _("Entry %(num)s (key “%(key)s”)", num=index + 1, key=key) if key else _("Entry %(num)s", num=index + 1)
    place = ", ".join(str(part) for part in (where, FIELDS.get(field, field)) if part)
    return f"{place[:1].upper()}{place[1:]}: {stored.shown(error['message'], rules.FIELD_MESSAGES)}."


@bp.route("/<int:agent_id>/slots/<int:slot_id>", methods=("GET", "POST"))
@admin_required
def edit_slot(agent_id, slot_id):
    agent = get_object_or_404(Agent, Agent.id == agent_id)
    slot = get_object_or_404(Slot, (Slot.id == slot_id) & (Slot.agent == agent))
    form = SlotForm(obj=slot)
    errors = []
    if form.validate_on_submit():
        errors = store(agent, [dict(key=slot.key, name=form.name.data.strip(), type=form.type.data.strip(), text=form.text.data or "")])
        if not errors:
            flash(_("Slot %(key)s saved: its name shows in every report from now on.", key=slot.key), "success")
            return back_to_slots(agent)
    types = [t for (t,) in Slot.select(Slot.type).where(Slot.agent == agent).distinct().order_by(Slot.type).tuples()]
    return render_template("admin/slot.html", agent=agent, slot=slot, form=form, errors=errors, types=types), 400 if request.method == "POST" else 200


def back_to_slots(agent):
    return redirect(url_for("admin.agent_page", agent_id=agent.id, _anchor="slots"))


@bp.route("/<int:agent_id>/slots.<any(csv, json):extension>")
@admin_required
def download_slots(agent_id, extension):
    agent = get_object_or_404(Agent, Agent.id == agent_id)
    slots = Slot.select().where(Slot.agent == agent).order_by(Slot.key)
    body = catalogue.as_csv(slots) if extension == "csv" else catalogue.as_json(slots)
    return Response(body, mimetype="text/csv" if extension == "csv" else "application/json",
                    headers={"Content-Disposition": f'attachment; filename="{agent.slug}-slots.{extension}"'})


@bp.route("/<int:agent_id>/slots/upload", methods=("POST",))
@admin_required
def upload_slots(agent_id):
    """Slots are added or changed by key; slots the file does not name stay as they are."""
    agent = get_object_or_404(Agent, Agent.id == agent_id)
    upload = request.files.get("catalogue")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV or JSON file of slots to upload."), "error")
        return back_to_slots(agent)
    try:
        errors = store(agent, *catalogue.read(upload.read(), upload.filename))
    except catalogue.CatalogueError as error:
        errors = [str(error)]
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN] + ([_("… and %(num)s more.", num=len(errors) - MAX_ERRORS_SHOWN)] if len(errors) > MAX_ERRORS_SHOWN else [])
        flash(_("Nothing was changed. %(errors)s", errors=" ".join(shown)), "error")
    else:
        flash(_("Slots uploaded: names, types and texts are updated by key; slots not in the file stay as they were."), "success")
    return back_to_slots(agent)


MAX_ERRORS_SHOWN = 5


@bp.route("/<int:agent_id>/rename", methods=("POST",))
@admin_required
def rename(agent_id):
    agent = get_object_or_404(Agent, Agent.id == agent_id)
    form = AgentForm()
    if not form.validate_on_submit():
        flash(_("Not renamed. %(errors)s", errors=" ".join(map(str, form.name.errors or form.errors.get("csrf_token", [])))), "error")
        return redirect(url_for("admin.agent_page", agent_id=agent.id, _anchor="name"))
    try:
        with db.atomic():
            Agent.update(name=form.name.data.strip()).where(Agent.id == agent.id).execute()
    except IntegrityError:
        flash(_("Not renamed: another agent has this name."), "error")
    else:
        flash(_("Renamed to %(name)s.", name=form.name.data.strip()), "success")
    return redirect(url_for("admin.agent_page", agent_id=agent.id, _anchor="name"))


@bp.route("/<int:agent_id>/<any(archive, restore):action>", methods=("POST",))
@admin_required
def set_archived(agent_id, action):
    """Archiving hides the agent from Analytics, dialog lists, exports, subscriptions and
    alerts, and refuses its API key; its data stays, and restoring brings all back."""
    agent = get_object_or_404(Agent, Agent.id == agent_id)
    Agent.update(archived_at=utcnow() if action == "archive" else None).where(Agent.id == agent.id).execute()
    flash(_("%(agent)s archived: hidden from reports and subscriptions, its API key refused, its data kept. Restore it here at any time.", agent=agent.name)
          if action == "archive" else _("%(agent)s restored: its reports, subscriptions and API key work again.", agent=agent.name), "success")
    return redirect(url_for("admin.agent_page", agent_id=agent.id))
