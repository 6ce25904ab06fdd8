"""Version 5: a request's channels become a JSON list (one per line could be split by a channel's name)."""
import json

from peewee import Model, TextField

from database import db


class ExportRequestV5(Model):
    channels = TextField()

    class Meta:
        database = db
        table_name = "export_request"


def apply(migrator):
    for request in ExportRequestV5.select(ExportRequestV5.id, ExportRequestV5.channels):
        names = request.channels.split("\n") if request.channels else []
        ExportRequestV5.update(channels=json.dumps(names)).where(ExportRequestV5.id == request.id).execute()
