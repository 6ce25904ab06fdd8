"""Admin → Import: upload a file (events, a Rasa tracker, a CSV log), import it in the
background, and watch its progress and result.

The upload may be larger than any other request (IMPORT_MAX_BYTES); it is saved
under IMPORTS_DIR, outside every served folder, and deleted when the import ends.

For a CSV log the page's script reads the chosen file's header and first rows in the
browser and offers its columns and sender values as choices; it fills the same fields
a person fills by hand without JavaScript, which the server checks as ever. A form
sent back with an error keeps every field but the file: browsers never refill a file
input, and the page says to choose it again. Keeping refused uploads on the server
under a token was the alternative: it would hold files of up to IMPORT_MAX_BYTES for
forms that may never come back, and need their own expiry; choosing again costs a click.
"""
import json
import os
import secrets

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import RadioField, SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import Length, Optional

from blueprints.guards import admin_required
from extensions import csrf
from importers import ImportFailed, removal
from importers.csv_log import COLUMN_GUESSES, FIELDS as CSV_FIELDS, REQUIRED as CSV_REQUIRED, SENDER_GUESSES, SKIP
from importers.csv_log import parse_sender_values, parse_timezone
from importers.jobs import (KINDS, SKIPPED_COUNTS, SKIPPED_WHY, delete_upload, error_in_words, open_source, run_import,
                          where_in_words)
from models import Agent, ImportJob

bp = Blueprint("imports", __name__, url_prefix="/admin/import")

RECENT_JOBS = 20


class ImportForm(FlaskForm):
    """Admin → Import: a file, its kind, and for a CSV log how its columns map onto events."""

    agent = SelectField(_l("Agent"), coerce=int)
    kind = RadioField(_l("What the file holds"), default="events", choices=[SelectChoice(k, name) for k, (name, _hint) in KINDS.items()])
    upload = FileField(_l("File"), validators=[FileRequired(_l("Choose the file to import."))])
    dialog_id = StringField(_l("Dialog id column"), validators=[Optional(), Length(max=200)])
    timestamp = StringField(_l("Timestamp column"), validators=[Optional(), Length(max=200)])
    sender = StringField(_l("Sender column"), validators=[Optional(), Length(max=200)])
    channel = StringField(_l("Channel column (optional)"), validators=[Optional(), Length(max=200)])
    slot = StringField(_l("Slot column (optional)"), validators=[Optional(), Length(max=200)])
    text = StringField(_l("Text column (optional)"), validators=[Optional(), Length(max=200)])
    sender_values = StringField(_l("Sender values (optional)"), validators=[Optional(), Length(max=500)])  # its hint: the template
    timezone = StringField(_l("Time zone of times without an offset"), validators=[Optional(), Length(max=100)])

    def csv_options(self):
        """The CSV mapping as import-csv's options take it; ValidationError beside the field at fault."""
        given = {name: (getattr(self, name).data or "").strip() for name in CSV_FIELDS}
        mapping = {name: column for name, column in given.items() if column}
        for name in CSV_REQUIRED:
            if name not in mapping:
                getattr(self, name).errors.append(_("Name the column that holds this (its header)."))
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


def page(form, status=200, choose_again=False):
    """The Import page; `choose_again` when the form came back without the file it had."""
    form.agent.choices = [SelectChoice(a.id, a.name) for a in Agent.select().order_by(Agent.name)]
    jobs = ImportJob.select(ImportJob, Agent).join(Agent).order_by(ImportJob.id.desc()).limit(RECENT_JOBS)
    limit_mb = current_app.config["IMPORT_MAX_BYTES"] / 1024 / 1024
    guesses = {"columns": COLUMN_GUESSES, "required": CSV_REQUIRED, "senders": SENDER_GUESSES, "skip": SKIP}
    return render_template("admin/import.html", form=form, jobs=jobs, kinds=KINDS, limit_mb=limit_mb, guesses=guesses,
                           choose_again=choose_again), status


@bp.route("/")
@admin_required
def index():
    """The form, with the agent of `?agent=<id>` chosen (the agent's page links here)."""
    return page(ImportForm(formdata=None, timezone=current_app.config["TIMEZONE"], agent=request.args.get("agent", type=int)))


@bp.route("/", methods=("POST",))
@csrf.exempt  # the form checks its own token, after the upload limit below applies
@admin_required
def upload():
    request.max_content_length = current_app.config["IMPORT_MAX_BYTES"]
    form = ImportForm()
    form.agent.choices = [SelectChoice(a.id, a.name) for a in Agent.select()]
    if not form.validate_on_submit():
        return page(form, 400, choose_again=bool(form.upload.data))
    options = form.csv_options() if form.kind.data == "csv" else {}
    if options is None:
        return page(form, 400, choose_again=True)
    path = save_upload(form.upload.data)
    file_name = os.path.basename(form.upload.data.filename or "upload")[:200]
    try:
        open_source(form.kind.data, path, options, file_name)  # a CSV's header is checked now, beside the form
    except ImportFailed as exc:
        delete_upload(path)
        form.upload.errors.append(str(exc))
        return page(form, 400, choose_again=True)
    job = ImportJob.create(
        account=g.account, agent=form.agent.data, kind=form.kind.data, path=path,
        file_name=file_name, options=json.dumps(options),
    )
    run_import(job.id)
    return redirect(url_for("imports.show", job_id=job.id))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    form = ImportForm(formdata=None, timezone=current_app.config["TIMEZONE"])
    limit_mb = current_app.config["IMPORT_MAX_BYTES"] / 1024 / 1024
    form.upload.errors = [
        _("The file is larger than the upload limit of %(limit)s MB (IMPORT_MAX_BYTES). "
          "Import it on the server with the command line instead (see the README).", limit=f"{limit_mb:g}")
    ]
    return page(form, 413)


def save_upload(upload):
    """Store the upload under a random name in IMPORTS_DIR; returns its path."""
    folder = current_app.config["IMPORTS_DIR"]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, secrets.token_hex(16) + ".upload")
    upload.save(path)
    return path


def find_job(job_id):
    job = ImportJob.select(ImportJob, Agent).join(Agent).where(ImportJob.id == job_id).first()
    if job is None:
        abort(404)
    return job


@bp.route("/<int:job_id>")
@admin_required
def show(job_id):
    job = find_job(job_id)
    return render_template("admin/import_job.html", job=job, kinds=KINDS, counted=SKIPPED_COUNTS[job.kind],
                           why_skipped=SKIPPED_WHY[job.kind], removable=removal.known(job),
                           error=error_in_words(job.error) if job.error else None, where_in_words=where_in_words)


@bp.route("/<int:job_id>/remove", methods=("POST",))
@admin_required
def remove(job_id):
    """Remove imported data (after the page's confirmation): queued; the page follows it."""
    removal.ask(find_job(job_id))
    return redirect(url_for("imports.show", job_id=job_id))


@bp.route("/<int:job_id>/progress")
@admin_required
def progress(job_id):
    """The job as the page's script follows it."""
    job = find_job(job_id)
    return jsonify(state=job.state, done=job.done, total=job.total, imported=job.imported, duplicates=job.duplicates,
                   skipped=job.skipped, reasons=job.reason_list, error=job.error, removing=job.is_removing)
