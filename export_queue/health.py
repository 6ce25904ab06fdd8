"""What an operator needs to see whether exports flow: the admin queue page and `queue-status`."""
import math
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from export_queue.states import BUILDING, EXPIRED, FAILED, IN_FLIGHT, QUEUED, SENT
from models import Agent, ExportItem, ExportRequest, utcnow


@dataclass(frozen=True)
class QueueHealth:
    """What an operator needs to see whether exports flow (admin page and `queue-status`)."""

    waiting: list  # queued or building items, oldest request first
    sla: timedelta
    failures: list  # failed items of requests from the last 24 hours
    latencies: list  # click-to-email seconds of items sent in the last 24 hours, sorted
    now: object

    def age(self, item):
        return self.now - item.request.created_at

    def is_late(self, item):
        return self.age(item) > self.sla

    @property
    def queued(self):
        return sum(1 for item in self.waiting if item.state == QUEUED)

    @property
    def building(self):
        return sum(1 for item in self.waiting if item.state == BUILDING)

    @property
    def over_sla(self):
        return sum(1 for item in self.waiting if self.is_late(item))

    def percentile(self, fraction):
        """Nearest-rank percentile of the latencies, None without any."""
        if not self.latencies:
            return None
        rank = max(1, math.ceil(len(self.latencies) * fraction))
        return self.latencies[rank - 1]

    def lines(self):
        oldest = self.waiting[0] if self.waiting else None
        age = f"{self.age(oldest).total_seconds():.0f} s (request #{oldest.request_id})" if oldest else "none waiting"
        median, p95 = self.percentile(0.5), self.percentile(0.95)
        latency = f"median {median:.1f} s, p95 {p95:.1f} s" if median is not None else "no emails sent"
        return [
            ("Queued items", self.queued),
            ("Building items", self.building),
            ("Oldest waiting", age),
            (f"Waiting longer than EXPORT_SLA ({self.sla.total_seconds():.0f} s)", self.over_sla),
            ("Failures (24 h)", len(self.failures)),
            ("Click to email (24 h)", latency),
        ] + [(f"  failed item {item.id} ({item.agent.name})", item.error) for item in self.failures]


def queue_health(now=None):
    now = now or utcnow()
    day_ago = now - timedelta(days=1)
    items = ExportItem.select(ExportItem, ExportRequest, Agent).join(ExportRequest).switch(ExportItem).join(Agent)
    waiting = list(items.where(ExportItem.state.in_(IN_FLIGHT)).order_by(ExportRequest.created_at, ExportItem.id))
    recent = list(items.where((ExportRequest.created_at >= day_ago) & ExportItem.state.in_((SENT, FAILED, EXPIRED))))
    return QueueHealth(
        waiting=waiting,
        sla=timedelta(seconds=current_app.config["EXPORT_SLA"]),
        failures=[item for item in recent if item.state == FAILED],
        latencies=sorted((item.sent_at - item.request.created_at).total_seconds() for item in recent if item.sent_at),
        now=now,
    )
