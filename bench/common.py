"""Shared helpers for the benchmarks: servers as subprocesses, a bounded load driver, figures.

    free_port()                  a TCP port nobody listens on
    Server / start_server()      a subprocess with its own env and log file; stop() ends its tree
    ims_server(data_dir, …)      `ims serve` on a free port, waited for until /readyz answers
    drive(op, concurrency, s)    run op() in N threads for s seconds → Figures
    open_loop(op, rate, s, n)    start op() at fixed times; latency from the scheduled time
    get(url) / http_op(pick, …)  one GET; an op that GETs pick(thread) on the thread's keep-alive
                                 connection (http.client: a third of httpx's client CPU, which
                                 matters when the server answers in a millisecond or two)
    RssSampler, cpu_seconds      peak resident memory and CPU time of a process tree

Benchmarks print figures; nothing here asserts a timing.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv") / "bin"


# --- ports and processes ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A server subprocess in its own process group, its output in ``log``."""

    name: str
    proc: subprocess.Popen
    base_url: str
    log: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_server(name: str, cmd: Sequence[str], base_url: str, log: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> Server:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "wb")
    proc = subprocess.Popen(list(cmd), env={**os.environ, **(env or {})}, cwd=cwd,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    return Server(name, proc, base_url, log)


def wait_http(server: Server, path: str, timeout: float = 60.0) -> None:
    """Poll ``path`` until it answers 200; raise with the server's log if it never does."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            reply = get(server.base_url + path, timeout=2.0)
            if reply.status == 200:
                return
            last = f"HTTP {reply.status}"
        except (OSError, http.client.HTTPException) as e:
            last = type(e).__name__
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} not ready after {timeout:g} s ({last}):\n{server.log_tail()}")


@contextlib.contextmanager
def ims_server(data_dir: Path, log: Path, **settings: str | int) -> Iterator[Server]:
    """``ims serve`` on a free port with ``IMS_DATA_DIR=data_dir`` and ``IMS_<NAME>=value``
    for each keyword (``cache_size_mb=0`` → ``IMS_CACHE_SIZE_MB=0``); ready when yielded."""
    port = free_port()
    env = {"IMS_DATA_DIR": str(data_dir), "IMS_HOST": "127.0.0.1", "IMS_PORT": str(port)}
    env.update({f"IMS_{k.upper()}": str(v) for k, v in settings.items()})
    server = start_server("ims", [str(VENV_BIN / "ims"), "serve"], f"http://127.0.0.1:{port}",
                          log, env=env)
    try:
        wait_http(server, "/readyz")
        yield server
    finally:
        server.stop()


# --- memory ------------------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/*/stat parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return tree


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """User + system CPU time used so far by ``pid`` (and, with ``tree``, its descendants)."""
    total = 0
    for p in process_tree(pid) if tree else [pid]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])     # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples the summed VmRSS of a process tree (or, ``tree=False``, of the process
    alone) every ``interval`` s; ``peak_mb`` after.

    Sampled rather than VmHWM because VmHWM is the lifetime high-water mark of one
    process: it would mix in earlier runs and says nothing about a tree's sum.
    """

    def __init__(self, pid: int, interval: float = 0.05, tree: bool = True) -> None:
        self.pid, self.interval, self.tree = pid, interval, tree
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        pids = process_tree(self.pid) if self.tree else [self.pid]
        self.peak_kb = max(self.peak_kb, sum(rss_kb(p) for p in pids))

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


# --- load ----------------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) with linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Figures:
    """What one load run measured. Latencies in seconds, of successful operations only."""

    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""
    peak_rss_mb: float | None = None
    cpu_seconds: float | None = None    # CPU the measured process (tree) used meanwhile

    def add(self, other: Figures) -> None:
        """Fold in another run of the same line (the benchmark measures in rounds)."""
        self.ok += other.ok
        self.errors += other.errors
        self.seconds += other.seconds
        self.latencies.extend(other.latencies)
        self.first_error = self.first_error or other.first_error
        if other.peak_rss_mb is not None:
            self.peak_rss_mb = max(self.peak_rss_mb or 0.0, other.peak_rss_mb)
        if other.cpu_seconds is not None:
            self.cpu_seconds = (self.cpu_seconds or 0.0) + other.cpu_seconds

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_op(self) -> float | None:
        """CPU per successful operation: unlike req/s, barely moved by other work on the machine."""
        return self.cpu_seconds / self.ok * 1000 if self.cpu_seconds is not None and self.ok else None

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1000


def drive(op: Callable[[int], str | None], concurrency: int, seconds: float) -> Figures:
    """Call ``op(thread_index)`` back to back in ``concurrency`` threads for ``seconds``.

    ``op`` returns None on success or a short error text. Operations still running at the
    deadline finish and count; the rate divides by the time until the last one ended.
    """
    figures = Figures()
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def worker(index: int) -> None:
        local: list[float] = []
        ok = errors = 0
        error = ""
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            problem = _attempt(op, index)
            if problem is None:
                local.append(time.perf_counter() - t0)
                ok += 1
            else:
                errors += 1
                error = error or problem
        with lock:
            figures.latencies.extend(local)
            figures.ok += ok
            figures.errors += errors
            figures.first_error = figures.first_error or error

    _in_threads(worker, concurrency)
    figures.seconds = time.perf_counter() - start
    return figures


def open_loop(op: Callable[[], str | None], rate: float, seconds: float, threads: int) -> Figures:
    """Start ``op`` ``rate`` times a second at fixed times, from ``threads`` threads.

    Latency runs from the *scheduled* time, so a slow answer that delays the next sends
    is counted against those too (no coordinated omission). ``op`` returns None on
    success or a short error text.
    """
    total = int(rate * seconds)
    slots = itertools.count()
    take = threading.Lock()
    figures = Figures()
    lock = threading.Lock()
    start = time.perf_counter() + 0.05

    def sender(_index: int) -> None:
        while True:
            with take:
                slot = next(slots)
            if slot >= total:
                return
            due = start + slot / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            problem = _attempt(op)
            latency = time.perf_counter() - due
            with lock:
                if problem is None:
                    figures.ok += 1
                    figures.latencies.append(latency)
                else:
                    figures.errors += 1
                    figures.first_error = figures.first_error or problem

    _in_threads(sender, threads)
    figures.seconds = time.perf_counter() - start
    return figures


def _attempt(op: Callable[..., str | None], *args) -> str | None:
    """``op(*args)``: None on success, else a short error text (failures are reported, not raised)."""
    try:
        return op(*args)
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def _in_threads(target: Callable[[int], None], count: int) -> None:
    """Run ``target(i)`` for i in range(count), each in its own thread; wait for all."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: dict = field(default_factory=dict)   # lowercased names


def _connect(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), target


def _request(conn: http.client.HTTPConnection, target: str, headers: dict | None = None) -> Reply:
    conn.request("GET", target, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    return Reply(r.status, r.getheader("content-type") or "", body, {k.lower(): v for k, v in r.getheaders()})


def get(url: str, timeout: float = 60.0, headers: dict | None = None) -> Reply:
    """One GET on a new connection."""
    conn, target = _connect(url, timeout)
    try:
        return _request(conn, target, {k.lower(): v for k, v in (headers or {}).items()})
    finally:
        conn.close()


def fresh_op(pick: Callable[[int], str], check: Callable[[Reply], str | None], headers: dict,
             timeout: float = 60.0) -> Callable[[int], str | None]:
    """An op for ``drive`` whose every call GETs a URL of one host that may never repeat,
    on the thread's one keep-alive connection, with ``headers``."""
    local = threading.local()

    def op(index: int) -> str | None:
        url = pick(index)
        parts = urlsplit(url)
        target = f"{parts.path}?{parts.query}"
        if getattr(local, "conn", None) is None:
            local.conn, _ = _connect(url, timeout)
        try:
            reply = _request(local.conn, target, headers)
        except (OSError, http.client.HTTPException):
            local.conn.close()
            reply = _request(local.conn, target, headers)
        return check(reply)

    return op


def http_op(pick: Callable[[int], str], check: Callable[[Reply], str | None],
            timeout: float = 60.0) -> Callable[[int], str | None]:
    """An op for ``drive``: GET ``pick(thread_index)`` on the thread's own keep-alive
    connection and let ``check`` judge the reply. A request that fails on a reused
    connection (the server may close idle ones) is sent once more on a fresh one."""
    local = threading.local()

    def op(index: int) -> str | None:
        url = pick(index)
        conns = local.__dict__.setdefault("conns", {})
        conn, target = conns.get(url) or _connect(url, timeout)
        reused = url in conns
        conns[url] = (conn, target)
        try:
            reply = _request(conn, target)
        except (OSError, http.client.HTTPException):
            conn.close()
            if not reused:
                raise
            reply = _request(conn, target)  # http.client reconnects a closed connection
        return check(reply)

    return op
