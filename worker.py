"""Entry point of the background worker: `huey_consumer worker.huey`.

Building the app registers the tasks on its queue, so the consumer sees them.
"""
from app import create_app

app = create_app()
huey = app.extensions["huey"]
