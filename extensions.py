"""Flask extensions and the background queue, created once and bound to the app in `create_app`.

As in Huey's Flask example, the queue lives at module level so each task can live
with the code it runs (`export_queue.delivery`, `importers.jobs`, `tasks`). Nothing
is read at import time: `init_queue` points the queue at QUEUE_URL and binds the app
whose context every task runs in.
"""
import functools
from urllib.parse import urlsplit

import flask_mail
from flask_wtf.csrf import CSRFProtect
from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

import database

mail = flask_mail.Mail()
csrf = CSRFProtect()
huey = Huey("slotlens", storage_class=MemoryStorage)  # bound to QUEUE_URL by init_queue
huey.flask_app = None


def storage_for(url):
    """Huey's storage class and its arguments for `sqlite:////abs/path.db` or `redis://host:port/n`."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SqliteStorage, {"filename": url[len("sqlite:///") :]}
    if scheme in ("redis", "rediss"):
        return RedisStorage, {"url": url}
    raise ValueError(f"QUEUE_URL {url!r}: use sqlite:////abs/path.db or redis://host:port/n")


def init_queue(app):
    """Point the queue at the app's QUEUE_URL and run every task in the app's context."""
    huey.storage_class, huey.storage_kwargs = storage_for(app.config["QUEUE_URL"])
    huey.name = app.config["QUEUE_NAME"]
    huey.immediate = app.config["QUEUE_IMMEDIATE"]
    huey.storage = huey.create_storage()
    huey.flask_app = app
    app.extensions["huey"] = huey


def in_app_context(func):
    """Run a task inside the bound app's context, with a database connection of its own."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with huey.flask_app.app_context(), database.connection():
            return func(*args, **kwargs)

    return wrapper


class Message(flask_mail.Message):
    """Flask-Mail's message with headers folded only past SMTP's own limit (998
    characters): folded at 78, Python drops the space between two encoded words, and a
    Russian subject's "Бот доставки" arrived as "Ботдоставки"."""

    def _message(self):
        message = super()._message()
        message.policy = message.policy.clone(max_line_length=998)
        return message
