"""Peak memory of a process together with the processes it starts (an import's
reader, `importers.read_ahead`), for the benchmark and the tests.

A process's own peak (`VmHWM`, GNU time's `%M`) leaves its children out, and a
child's peak is gone when it exits, so the tree is sampled instead, every few
milliseconds. Each process counts its proportional set size (`Pss`): a page a
forked child still shares with its parent counts half in each, so the sum is
the memory the tree holds (the sum of resident sizes would count those pages
twice). A peak between two samples goes unseen.
"""
import os
import threading


def tree_mb(pid):
    """The memory `pid` and its descendants hold now (their summed Pss), in MB; 0 once it is gone."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while being read
    return total / 1024


class PeakTreeMemory:
    """While open, samples `tree_mb(pid)` every `interval` seconds; `peak` is the largest."""

    def __init__(self, pid, interval=0.02):
        self.pid, self.interval, self.peak = pid, interval, 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._sampler.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._sampler.join()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_mb(self.pid))
            self._stop.wait(self.interval)
