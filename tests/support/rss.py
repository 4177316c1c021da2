"""Resident memory of a process tree, from /proc: a sample, and a watch that caps it.

The idea of bench/common.py's RssSampler (tests do not import bench/): the summed VmRSS
of a process and its descendants. ``RssWatch`` also kills the tree when it passes a cap,
so that a memory bomb under test cannot take the machine (and every other test) down.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/*/stat parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    """Summed VmRSS of ``pid`` and its descendants, in MB."""
    return sum(_rss_kb(p) for p in process_tree(pid)) / 1024


class RssWatch:
    """Samples a tree's RSS every ``interval`` s, keeps the peak, SIGKILLs the tree above ``cap_mb``."""

    def __init__(self, pid: int, cap_mb: float, interval: float = 0.05) -> None:
        self.pid, self.cap_mb, self.interval = pid, cap_mb, interval
        self.peak_mb = 0.0
        self.tripped: float | None = None  # the RSS that made it kill the tree
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = tree_rss_mb(self.pid)
            self.peak_mb = max(self.peak_mb, rss)
            if rss > self.cap_mb and self.tripped is None:
                self.tripped = rss
                for p in process_tree(self.pid):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass


def tree_pss_mb(pid: int) -> float:
    """Summed proportional set size of ``pid`` and its descendants, in MB: pages a forkserver
    shares with its children count once, not once per process as in ``tree_rss_mb``."""
    total = 0
    for p in process_tree(pid):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")), 0)
    return total / 1024
