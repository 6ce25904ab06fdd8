"""Build one agent's full-period report in a process of its own, so that its peak
memory can be measured (`python -m bench.build_one AGENT_ID`)."""
import os
import sys
import tempfile

from app import create_app
from bench.run import FULL
from models import Agent
from reporting import kinds

if __name__ == "__main__":
    app = create_app(instance_path=tempfile.mkdtemp())
    with app.app_context():
        agent = Agent.get_by_id(int(sys.argv[1]))
        path = os.path.join(tempfile.mkdtemp(), "report.csv")
        kinds.build_report("stop-slots", agent, FULL, "UTC", path)
