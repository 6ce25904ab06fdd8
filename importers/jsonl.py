"""JSON Lines of API events (one event per line), as `import-events` and Admin → Import read them."""
import os

from importers import LINE, Item


class JsonLines:
    """The events of a JSON Lines file; progress in bytes.

    A line that is not UTF-8 is skipped here, naming the byte: the JSON decoders
    raise on it instead of refusing it, which would end the whole import.
    """

    unit = "lines"
    reads_ahead = True  # `importers.read_ahead`

    def __init__(self, path):
        self.path = path
        self.total = os.path.getsize(path)
        self.done = 0

    def __iter__(self):
        with open(self.path, "rb") as lines:
            for number, raw in enumerate(lines, start=1):
                self.done += len(raw)
                if not raw.strip():
                    continue
                where = LINE.english(line=number)
                try:
                    if not raw.isascii():  # ASCII is UTF-8, and isascii() tells it without decoding a copy
                        raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield Item(where, None, f"not valid UTF-8 (byte {exc.start + 1})")
                else:
                    yield Item(where, None, line=raw)
