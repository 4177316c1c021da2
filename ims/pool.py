"""The bounded pool all pixel work runs in: child processes that can be killed, with
request coalescing, load shedding and a fair share for heavy renders.

Why processes: the processing time limit must hold whatever the step. libvips checks its
kill flag only in its sinks; librsvg rasterisation, per-frame loops and the AVIF/WebP
encoders run long stretches without looking, and a thread cannot be stopped from outside.
A child process can: past the limit (+ ``GRACE`` seconds) the pool SIGKILLs it, answers
503 and starts a fresh child on next use.

    run(key, fn, *args)    identical work in flight (same key) is computed once and shared;
                           over ``max_waiting`` queued jobs new work gets 503 + Retry-After
      a parent thread      takes a free child, sends (fn, args) over a pipe, waits with
                           ``poll(limit + GRACE)``; ``then`` runs in that thread afterwards
      the child            ``fn(*args, admit=…)``; errors come back as the same ``ImsError``

Children are forks of a warm ``forkserver`` (``ims.pipeline`` preloaded: no imports per
child; plain fork is unsafe in a threaded parent), started lazily, one per core. A child
dies with its parent (``PR_SET_PDEATHSIG``, and EOF on its pipe while idle), and leaves
after a task that grew it past ``max_rss`` (the backstop for whatever libvips and glib
keep). A child that dies mid-render (a codec's segfault, the OOM killer) fails that one
render with a 422 and is replaced.

Fair share: work calls ``admit(seconds)`` with its estimated cost before the expensive
part. An estimate of ``heavy_seconds`` or more is heavy: heavy work may hold at most N − 1
of the N children, so small renders always find one. (A heavy task that finds the quota
full gives its child back and waits for a heavy turn; its header is read twice.) With
one core the pool keeps two children and lets heavy work have one. Estimates can be
wrong: when every child has been busy for longer than ``heavy_seconds``, light work
starts one more child (up to 2 N) rather than wait for the limit.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ims.errors import ImsError, ProcessingTimeout, Unavailable, Unprocessable

GRACE = 1.0                # seconds past the limit before the child is killed
MAX_RSS = 1 << 30          # a child that grew past this after a task is replaced

_CONTEXT = multiprocessing.get_context("forkserver")
# "__main__": the server imports the main script once (guarded by ``if __name__ ==
# "__main__"``, as multiprocessing requires), so that children do not each run it again.
_CONTEXT.set_forkserver_preload(["__main__", "ims.pipeline", "ims.pool"])


class PixelPool:
    def __init__(self, processes: int | None = None, max_waiting: int | None = None, *,
                 seconds: float = 30.0, heavy_seconds: float | None = None,
                 max_rss: int = MAX_RSS) -> None:
        """``processes``: cores to use (default: all); ``seconds``: the processing limit;
        ``heavy_seconds``: the estimated cost from which work is heavy (default a tenth of
        the limit, at least 1 s)."""
        self.processes = processes or os.cpu_count() or 1
        self.max_waiting = max_waiting if max_waiting is not None else self.processes * 16
        self.seconds = seconds
        self.heavy_seconds = heavy_seconds if heavy_seconds is not None else max(1.0, seconds / 10)
        self.size = size = max(2, self.processes)
        self.heavy_slots = size - 1
        self._children = [_Child(max_rss) for _ in range(size)]
        self._free = list(self._children)
        self._heavy = 0
        self._closed = False
        self._slots = threading.Condition()
        # A thread per admitted job (running or waiting for a child): a light job never
        # queues behind heavy ones waiting for their turn.
        self._executor = ThreadPoolExecutor(2 * size + self.max_waiting, thread_name_prefix="pixels")
        self._in_flight: dict[str, asyncio.Future] = {}
        self._pending = 0

    async def run(self, key: str | None, fn: Callable[..., Any], *args,
                  then: Callable[[Any], Any] | None = None, **kwargs) -> Any:
        """Run ``fn(*args, admit=…, **kwargs)`` in a child; callers with the same non-None
        ``key`` share one run. ``fn`` and its arguments must pickle (``fn`` by reference).
        With ``then``, ``then(result)`` runs in the waiting parent thread and is returned."""
        if key is not None and key in self._in_flight:
            return await asyncio.shield(self._in_flight[key])
        if self._closed:
            raise Unavailable("the server is shutting down")
        self.check_room()
        loop = asyncio.get_running_loop()
        self._pending += 1
        future = loop.run_in_executor(self._executor, self._call, fn, args, kwargs, then)
        if key is not None:
            self._in_flight[key] = future
        # Bookkeeping follows the work, not the caller: a client that goes away
        # does not free a slot that a child is still using.
        future.add_done_callback(lambda f: self._finished(key, f))
        return await asyncio.shield(future)

    def running(self, key: str | None) -> bool:
        """Work of this key is in flight (a ``run`` with it now shares that run)."""
        return key is not None and key in self._in_flight

    def check_room(self, coming: int = 0) -> None:
        """503 + Retry-After when the pool holds all the work it may (running and waiting), counting
        ``coming`` renders the caller is about to hand in: a caller that asks before it fetches a
        source does not hold the source's bytes only to be refused (100 concurrent 12 MP requests
        would otherwise each read ~5 MB before most of them are shed)."""
        if self._pending + coming >= self.size + self.max_waiting:
            raise Unavailable("the server is busy processing images; try again shortly",
                              headers={"Retry-After": "1"})

    def _call(self, fn, args, kwargs, then) -> Any:
        heavy = False
        while True:
            child = self._take(heavy)
            try:
                done, result = child.call((fn, args, kwargs, heavy, self.heavy_seconds),
                                          self.seconds)
            except Unprocessable:
                if self._closed:  # killed by ``shutdown``, not by the image: worth another try
                    raise Unavailable("the server is shutting down") from None
                raise
            finally:
                self._give_back(child, heavy)
            if done:
                return then(result) if then else result
            heavy = True  # it asked for a heavy turn: wait for one, then run it again

    def _take(self, heavy: bool) -> _Child:
        with self._slots:
            while True:
                if self._closed:
                    raise Unavailable("the server is shutting down")
                if self._free and not (heavy and self._heavy >= self.heavy_slots):
                    break
                if not heavy and not self._free and self._all_slow():
                    self._free.append(_Child(self._children[0].max_rss))
                    self._children.append(self._free[-1])
                    break
                # (light work looks again as the busy renders age: see ``_all_slow``)
                self._slots.wait(None if heavy else 0.25)
            self._heavy += heavy
            child = self._free.pop()  # the most recently used: children start only when needed
            child.since = time.monotonic()
            return child

    def _all_slow(self) -> bool:
        """Every child busy for longer than heavy work takes, as if it were heavy (estimates
        can be wrong): light work may then start one more child, up to twice the cores.
        The busy ones stay bounded by the limit; the cores are shared for a while."""
        if len(self._children) >= 2 * self.size:
            return False
        slow = time.monotonic() - self.heavy_seconds
        return all(c.since is not None and c.since < slow for c in self._children)

    def _give_back(self, child: _Child, heavy: bool) -> None:
        with self._slots:
            self._heavy -= heavy
            child.since = None
            self._free.append(child)
            self._slots.notify_all()

    def _finished(self, key: str | None, future: asyncio.Future) -> None:
        self._pending -= 1
        if key is not None and self._in_flight.get(key) is future:
            del self._in_flight[key]
        if not future.cancelled():
            future.exception()  # mark retrieved: a shared failure is reported by its waiters

    def load(self) -> tuple[int, int, int]:
        """(children rendering, children this pool may use, renders waiting for one): saturation."""
        with self._slots:
            busy = len(self._children) - len(self._free)
            return busy, len(self._children), max(0, self._pending - busy)

    def pids(self) -> list[int]:
        """The running children's process ids."""
        return [c.process.pid for c in self._children if c.process is not None]

    def shutdown(self) -> None:
        """Kill the children (a render in progress fails) and refuse new work."""
        with self._slots:
            self._closed = True
            self._slots.notify_all()
            idle = list(self._free)
        for child in self._children:
            if child in idle:
                child.stop()
            elif (process := child.process) is not None:
                process.kill()  # its waiting thread sees the pipe close and cleans up
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Requeue(Exception):
    """Raised by ``admit`` in a child: heavy work on a light turn."""


class _Child:
    """One child process and the pipe to it; started on first use, replaced when it dies."""

    def __init__(self, max_rss: int) -> None:
        self.max_rss = max_rss
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn = None
        self.since: float | None = None  # when its current task started

    def call(self, task: tuple, seconds: float) -> tuple[bool, Any]:
        """(True, result), or (False, None) for a heavy task on a light turn; raises what
        the task raised, or ``ProcessingTimeout`` past ``seconds`` + ``GRACE``."""
        if self.process is None or not self.process.is_alive():  # (left after a task: RSS)
            self.stop()
            self._start()
        try:
            self.conn.send(task)
        except OSError:  # it died while idle (the OOM killer, a stray signal): once more, fresh
            self.stop()
            self._start()
            self.conn.send(task)
        if not self.conn.poll(seconds + GRACE):
            self.stop()
            raise ProcessingTimeout(f"processing took longer than {seconds:g} s")
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            raise self._died() from None
        if kind == "error":
            raise value
        return kind == "done", value

    def _start(self) -> None:
        parent, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(child, self.max_rss),
                                        name="ims-pixels", daemon=True)
        self.process.start()
        child.close()
        self.conn = parent

    def _died(self) -> ImsError:
        self.process.join(5)
        code = self.process.exitcode
        self.stop()
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit status {code}"
        return Unprocessable(f"image processing failed: the renderer stopped ({how}) on this image")

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)
            self.process = None


def _serve(conn, max_rss: int) -> None:
    """A child's life: run tasks until the pipe closes or the child grew too big."""
    # The forkserver hands every child the write end of its "a client is alive" pipe; held
    # here, it would keep the server, and with it this child's death signal, from noticing
    # that ims has gone.
    from multiprocessing import forkserver
    alive = forkserver._forkserver._forkserver_alive_fd  # noqa: SLF001
    if alive is not None:
        os.close(alive)
        forkserver._forkserver._forkserver_alive_fd = None  # noqa: SLF001
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us
    while True:
        try:
            fn, args, kwargs, heavy, heavy_seconds = conn.recv()
        except (EOFError, OSError):
            return

        def admit(cost: float) -> None:
            if cost >= heavy_seconds and not heavy:
                raise _Requeue

        try:
            reply = ("done", fn(*args, admit=admit, **kwargs))
        except _Requeue:
            reply = ("requeue", None)
        except ImsError as e:
            reply = ("error", e)
        except Exception as e:  # a bug: the parent reports it as an internal error
            traceback.print_exc()  # (to ims's stderr: the details are not the client's)
            reply = ("error", ImsError(f"image processing failed: {type(e).__name__}"))
        try:
            conn.send(reply)
        except Exception as e:  # (an unpicklable result or error)
            conn.send(("error", ImsError(f"image processing failed: {type(e).__name__}: {e}")))
        _give_back()  # after the reply: the caller does not wait for it
        if _rss() > max_rss:
            return


def _give_back() -> None:
    """Return the heap a render freed to the system: glibc keeps it otherwise (a child that
    rendered one big image held hundreds of MB while idle)."""
    try:
        _LIBC.malloc_trim(0)
    except AttributeError:  # not glibc
        pass


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None)


def _die_with_parent() -> None:
    """SIGKILL this process when its parent (the forkserver, which ends with ims) ends."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: EOF on the pipe still ends an idle child
        pass
