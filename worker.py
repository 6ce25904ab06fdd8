"""Entry point of the background worker: `huey_consumer worker.huey`.

Importing `tasks` registers every task on the queue (it imports the modules that
define them), so the consumer sees them; building the app binds the queue to QUEUE_URL.
"""
import socket

import tasks  # noqa: F401 - registers the tasks
from app import create_app

app = create_app()
huey = app.extensions["huey"]
# Flask-Mail opens its SMTP connection without a timeout; no worker may hang forever.
socket.setdefaulttimeout(app.config["MAIL_TIMEOUT"])
