"""Entry point of the background worker: `huey_consumer worker.huey`.

Building the app registers the tasks on its queue, so the consumer sees them.
"""
import socket

from app import create_app

app = create_app()
huey = app.extensions["huey"]
# Flask-Mail opens its SMTP connection without a timeout; no worker may hang forever.
socket.setdefaulttimeout(app.config["MAIL_TIMEOUT"])
