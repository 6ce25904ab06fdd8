"""JSON Lines of API events (one event per line), as `import-events` and Admin → Import read them."""
import os

from importers import Item


class JsonLines:
    """The events of a JSON Lines file; progress in bytes."""

    unit = "lines"

    def __init__(self, path):
        self.path = path
        self.total = os.path.getsize(path)
        self.done = 0

    def __iter__(self):
        with open(self.path, "rb") as lines:
            for number, raw in enumerate(lines, start=1):
                self.done += len(raw)
                if raw.strip():
                    yield Item(f"line {number}", None, line=raw)
