"""Where an item's report lives, and the signed link that downloads it."""
import hashlib
import os
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from export_queue.states import IN_FLIGHT, SENT
from models import ExportItem, utcnow
from reporting import kinds


def report_folder(item):
    """Each item's file lives in a folder of its own, so names never collide."""
    return os.path.join(current_app.config["REPORTS_DIR"], str(item.id))


def report_path(item, extension="csv"):
    """The item's file (the CSV, or the workbook: "xlsx"), under the name users see."""
    name = kinds.file_name(item.request.kind, item.agent.slug, item.request.date_from, item.request.date_to)
    path = os.path.join(report_folder(item), name)
    return kinds.xlsx_path(path) if extension == "xlsx" else path


def has_workbook(item):
    """Whether the item's report has its workbook (a transcripts export too long for one has not)."""
    return os.path.exists(report_path(item, "xlsx"))


def _serializer():
    return URLSafeSerializer(
        current_app.config["SECRET_KEY"], salt="report-download", signer_kwargs={"digest_method": hashlib.sha256}
    )


def download_token(item):
    """A signed token naming the item and the account it was sent to."""
    return _serializer().dumps({"item": item.id, "account": item.request.account_id})


def item_for_token(token):
    """The item a genuine token names, or None for a tampered or unknown token."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    item = ExportItem.get_or_none(ExportItem.id == data.get("item"))
    if item is None or item.request.account_id != data.get("account"):
        return None
    return item


def is_downloadable(item, now=None):
    """A sent report until its link expires; a report built while its email still
    waits (the mail server failing) from then on, for as long as a link lasts: the
    file is the account's either way, whatever the mail server does."""
    now = now or utcnow()
    if item.state == SENT:
        return item.expires_at is not None and now < item.expires_at
    if item.state in IN_FLIGHT and item.data_as_of is not None:
        return now < item.data_as_of + timedelta(seconds=current_app.config["REPORT_LINK_TTL"])
    return False
