"""A local SMTP server that keeps every email in a folder, for `make run`.

With no MAIL_SERVER configured, a newcomer still sees the whole flow: the
reports' emails land here and the `/outbox` page shows them.
"""
import argparse
import email
import email.policy
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

from aiosmtpd.controller import Controller


class SaveToFolder:
    """aiosmtpd handler: one .eml file per accepted message, written atomically."""

    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}.eml"
        partial = os.path.join(self.folder, name + ".partial")
        with open(partial, "wb") as f:
            f.write(envelope.original_content)
        os.replace(partial, os.path.join(self.folder, name))
        return "250 Message accepted for delivery"


@dataclass
class CaughtMessage:
    name: str
    subject: str
    sender: str
    recipients: list
    date: object  # when it was sent, as a naive UTC datetime like the app's stored times; None without a Date
    text: str
    html: str


def sent_at(date_header):
    """A Date header in UTC, naive, so that pages show it as they show every time (`local`)."""
    if not date_header:
        return None
    sent = parsedate_to_datetime(date_header)
    return sent.astimezone(timezone.utc).replace(tzinfo=None) if sent.tzinfo else sent


def read_messages(folder, limit=100):
    """The newest caught messages first."""
    if not os.path.isdir(folder):
        return []
    names = sorted((n for n in os.listdir(folder) if n.endswith(".eml")), reverse=True)[:limit]
    messages = []
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        messages.append(
            CaughtMessage(
                name=name,
                subject=str(msg["Subject"] or ""),
                sender=str(msg["From"] or ""),
                recipients=[a.addr_spec for a in msg["To"].addresses] if msg["To"] else [],
                date=sent_at(msg["Date"]),
                text=text.get_content() if text else "",
                html=html.get_content() if html else "",
            )
        )
    return messages


def serve(folder, host="127.0.0.1", port=1025):
    """Run the catcher until interrupted."""
    controller = Controller(SaveToFolder(folder), hostname=host, port=port)
    controller.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Mail catcher on {host}:{port}, saving to {folder}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args()
    serve(args.folder, args.host, args.port)
