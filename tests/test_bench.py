"""The benchmark, at tiny sizes, so that `make bench` cannot rot unnoticed."""
import os
import shutil
import subprocess
import sys

import pytest

from devtools.processes import ROOT


def test_bench_smoke_run():
    missing = [tool for tool in ("sqlite3", "/usr/bin/time") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("REQUIRE_BENCH_TOOLS") == "1":
            pytest.fail(f"missing {missing}: apt-get install sqlite3 time")
        pytest.skip(f"missing {missing} (apt-get install sqlite3 time)")
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for section in ("Report build", "Slot funnel build", "Slot paths build", "Ingestion", "cost of the report family",
                    "import-rasa", "Click to email", "Slot paths preview", "Peak RSS", "Dialog list, first page",
                    "Dialogs page, a transcript", "cost of masking personal data", "Purge of expired texts",
                    "cost of 3 outcome rules", "recomputing every dialog", "Outcomes report build", "Slot funnel preview, Outcomes",
                    "import-events of many short dialogs", "the fastest of 2 runs", "where import-events' time goes"):
        assert section in result.stdout
    assert "equal result" in result.stdout
