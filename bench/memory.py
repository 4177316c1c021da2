"""Where the memory of `ims serve` goes (issue 15 item 5): a breakdown per process, in MB.

    .venv/bin/python bench/memory.py [--seconds 20] [--burst 100]

Two phases on `ims serve` with its default settings (result cache off and no in-process
workers, as the uncached line of bench/ondemand.py; the 12 MP photo of that benchmark):

  uncached load   2 × cores requests in flight for --seconds, each load thread on its own
                  copy of the photo (no coalescing): target < 400 MB peak RSS of the tree
  burst           --burst (100) requests at once, each for its own copy: the pool sheds what
                  it cannot take (503 + Retry-After) before fetching it; target < 600 MB

The tree is sampled every 50 ms. Printed for the idle server, after the warm-up and at each
phase's peak (the sample with the highest summed VmRSS): each process's role, VmRSS, its
anonymous part (heap: what a render or a request holds), its file-backed part (the
interpreter, libvips and the other shared libraries, mapped once per process) and its PSS
(shared pages divided among the processes sharing them: the sum of the PSS column is what
the tree really costs, the sum of VmRSS counts every shared page once per process).

It prints figures and never asserts them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, drive, http_op, ims_server, process_tree  # noqa: E402  (bench/ is not a package)
from ondemand import IMAGE, QUERY, check_jpeg, ensure_test_image, place_copies  # noqa: E402

UNCACHED_TARGET_MB = 400
BURST_TARGET_MB = 600


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of uncached load (20)")
    p.add_argument("--burst", type=int, default=100, help="requests sent at once in the burst (100)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="work directory (bench/out)")
    p.add_argument("--make-large", type=Path, default=REPO.parent / "shared/testdata/make_large.py")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    concurrency = 2 * cores
    image = ensure_test_image(args.out, args.make_large)
    print(f"{IMAGE}: {image.stat().st_size / 1e6:.1f} MB · {cores} cores · load average {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory(prefix="ims-memory-", dir=args.out) as tmp:
        data_dir = Path(tmp)
        keys = place_copies(image, data_dir / "sources/default", max(concurrency, args.burst))
        with ims_server(data_dir, args.out / "memory.log", cache_size_mb=0, workers=0) as server:
            pid = server.proc.pid
            show("idle, before any request", snapshot(pid))
            urls = [f"{server.base_url}/default/{key}?{QUERY}" for key in keys]
            op = http_op(lambda i: urls[i], check_jpeg)
            drive(op, concurrency, 2.0)                      # every pixel child started, warm
            show("after a 2 s warm-up", snapshot(pid))

            with Peak(pid) as peak:
                figures = drive(op, concurrency, args.seconds)
            show(f"uncached load, {concurrency} in flight, {figures.rate:.1f} req/s, {figures.errors} errors: "
                 f"the peak", peak.at_peak)
            uncached = peak.tree_mb

            with Peak(pid) as peak:
                statuses, retry_after = burst(server.base_url, keys[:args.burst])
            show(f"burst of {args.burst}: {statuses.get(200, 0)} × 200, {statuses.get(503, 0)} × 503 "
                 f"(Retry-After {sorted(retry_after) or '—'}), other {sum(v for k, v in statuses.items() if k not in (200, 503))}: "
                 f"the peak", peak.at_peak)
            shed = peak.tree_mb

    print("\ntargets (peak summed VmRSS of the tree)")
    for what, value, most in (("uncached load", uncached, UNCACHED_TARGET_MB), (f"burst of {args.burst}", shed,
                                                                                 BURST_TARGET_MB)):
        print(f"  {what:<22}{value:>8.0f} MB  target < {most} MB  {'met' if value < most else 'NOT met'}")
    return 0


# --- the tree --------------------------------------------------------------------------------

def snapshot(pid: int) -> list[dict]:
    """One sample: a row per process of the tree (role, VmRSS, RssAnon, RssFile, PSS in kB)."""
    rows = []
    tree = process_tree(pid)
    for p in tree:
        status = _status(p)
        if not status:
            continue
        rows.append({"pid": p, "role": _role(p, pid, tree), "rss": status.get("VmRSS", 0),
                     "anon": status.get("RssAnon", 0), "file": status.get("RssFile", 0) + status.get("RssShmem", 0),
                     "pss": _pss(p)})
    return rows


def _status(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[name] = int(rest.split()[0])
    return out


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _role(p: int, server: int, tree: list[int]) -> str:
    if p == server:
        return "ims serve (HTTP, event loop)"
    try:
        cmdline = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        parent = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return "?"
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if parent == server:   # (its children, forked from it, show the same command line)
        return "forkserver (children's template)"
    return "pixel child"


class Peak:
    """Samples the tree every 50 ms; keeps the sample with the highest summed VmRSS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.at_peak: list[dict] = []
        self.tree_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            rows = snapshot(self.pid)
            total = sum(r["rss"] for r in rows) / 1024
            if total > self.tree_mb:
                self.tree_mb, self.at_peak = total, rows
            if self._stop.wait(0.05):
                return


def show(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"  {'process':<34}{'VmRSS':>8}{'anon':>8}{'file':>8}{'PSS':>8}")
    for r in sorted(rows, key=lambda r: (r["role"], r["pid"])):
        print(f"  {r['role']:<34}{r['rss'] / 1024:>8.0f}{r['anon'] / 1024:>8.0f}{r['file'] / 1024:>8.0f}"
              f"{r['pss'] / 1024:>8.0f}")
    total = {k: sum(r[k] for r in rows) / 1024 for k in ("rss", "anon", "file", "pss")}
    print(f"  {'tree':<34}{total['rss']:>8.0f}{total['anon']:>8.0f}{total['file']:>8.0f}{total['pss']:>8.0f}")


# --- the burst --------------------------------------------------------------------------------

def burst(base_url: str, keys: list[str]) -> tuple[dict[int, int], set[str]]:
    """Every key asked for at once, on its own connection: (replies per status, Retry-After values)."""
    host, port = base_url.removeprefix("http://").split(":")
    start = threading.Barrier(len(keys))

    def one(key: str) -> tuple[int, str | None]:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        with contextlib.closing(conn):
            conn.connect()
            start.wait()
            conn.request("GET", f"/default/{key}?{QUERY}")
            reply = conn.getresponse()
            reply.read()
            return reply.status, reply.getheader("retry-after")

    statuses: dict[int, int] = {}
    retry_after: set[str] = set()
    with ThreadPoolExecutor(len(keys)) as pool:
        for status, retry in pool.map(one, keys):
            statuses[status] = statuses.get(status, 0) + 1
            if retry:
                retry_after.add(retry)
    time.sleep(0.2)
    return statuses, retry_after


if __name__ == "__main__":
    sys.exit(main())
