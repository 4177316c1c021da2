"""The pixel pool: renders run in child processes that are killed past the limit, replaced
when they die, share heavy work fairly, and do not outlive the pool or its process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ims import pipeline
from ims.config import Limits
from ims.errors import ImsError, InvalidParameter, NotAnImage, PayloadTooLarge, Unavailable, Unprocessable
from ims.params import parse
from ims.pool import PixelPool
from tests.pipeline.test_cost import svg_bomb
from tests.support import pixelwork
from tests.support.testdata import IMAGES

pytestmark = pytest.mark.anyio

PHOTO = (IMAGES / "photos/pool-2.4mp.jpg").read_bytes()
SMALL = parse({"w": "32", "h": "32", "fit": "crop"})


@pytest.fixture
def make_pool():
    pools: list[PixelPool] = []

    def make(**options) -> PixelPool:
        pools.append(PixelPool(**options))
        return pools[-1]

    yield make
    for pool in pools:
        pool.shutdown()


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for its parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):  # (gone between the open and the read)
        return True


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_children_start_on_first_use(make_pool):
    pool = make_pool(processes=2)
    assert pool.pids() == []
    child = await pool.run(None, pixelwork.pid)
    assert pool.pids() == [child] and child != os.getpid()


async def test_work_past_the_limit_is_killed_and_answers_503_the_pool_keeps_serving(make_pool):
    pool = make_pool(processes=1, seconds=1)
    first = await pool.run(None, pixelwork.pid)
    started = time.monotonic()
    with pytest.raises(Unavailable) as e:
        await pool.run(None, pixelwork.spin, 60)  # never looks at a deadline
    assert time.monotonic() - started < 1 + 2
    assert e.value.status == 503 and e.value.message == "processing took longer than 1 s"
    await _until(lambda: _gone(first))
    out = await pool.run(None, pipeline.process, PHOTO, SMALL, Limits())
    assert (out.width, out.height) == (32, 32)


async def test_a_real_render_past_the_limit_answers_503_within_the_limit_and_a_grace(make_pool):
    # an SVG filter bomb rasterised at 4000 px (about 15 s of CPU here), with the budget
    # that would refuse it out of the way: librsvg never looks at libvips' kill flag
    pool = make_pool(processes=2, seconds=2)
    await pool.run(None, pixelwork.pid)  # a child running (its start is no part of the limit)
    started = time.monotonic()
    with pytest.raises(Unavailable) as e:
        await pool.run(None, pixelwork.process_unbudgeted, svg_bomb(), parse({"w": "4000"}),
                       Limits(processing_seconds=2))
    assert time.monotonic() - started < 2 + 2
    assert e.value.message == "processing took longer than 2 s"
    out = await pool.run(None, pipeline.process, PHOTO, SMALL, Limits(processing_seconds=2))
    assert out.width == 32


async def test_a_child_killed_mid_render_fails_that_render_and_the_next_one_works(make_pool, tmp_path):
    pool = make_pool(processes=1)
    started = tmp_path / "started"
    render = asyncio.ensure_future(pool.run(None, pixelwork.spin, 60, started=str(started)))
    await _until(started.exists)
    os.kill(int(started.read_text()), signal.SIGKILL)
    with pytest.raises(Unprocessable) as e:
        await render
    assert e.value.status == 422 and "SIGKILL" in e.value.message
    assert (await pool.run(None, pipeline.process, PHOTO, SMALL, Limits())).width == 32


async def test_a_child_that_crashes_fails_that_render_only(make_pool):
    pool = make_pool(processes=1)
    with pytest.raises(Unprocessable) as e:
        await pool.run(None, pixelwork.crash)
    assert "SIGSEGV" in e.value.message
    assert (await pool.run(None, pipeline.process, PHOTO, SMALL, Limits())).width == 32


@pytest.mark.parametrize("data, query, limits, error, field", [
    (PHOTO, {"w": "100"}, Limits(source_pixels=1_000_000), PayloadTooLarge, None),
    ((IMAGES / "hostile/truncated.jpg").read_bytes(), {"w": "100"}, Limits(), NotAnImage, None),
    (PHOTO, {"w": "9000"}, Limits(), InvalidParameter, "w"),
], ids=["413", "422", "400"])
async def test_errors_from_the_child_arrive_as_the_same_error(make_pool, data, query, limits, error, field):
    pool = make_pool(processes=1)
    with pytest.raises(ImsError) as here:
        pipeline.process(data, parse(query), limits)
    with pytest.raises(ImsError) as there:
        await pool.run(None, pipeline.process, data, parse(query), limits)
    assert type(there.value) is type(here.value) is error
    assert (there.value.status, there.value.code, there.value.message, there.value.field, there.value.errors) \
        == (here.value.status, here.value.code, here.value.message, field, here.value.errors)


async def test_an_error_keeps_its_headers(make_pool):
    pool = make_pool(processes=1)
    with pytest.raises(Unavailable) as e:
        await pool.run(None, pixelwork.busy)
    assert e.value.headers == {"Retry-After": "7"} and e.value.message == "busy for a moment"


async def test_a_bug_in_the_child_is_an_internal_error_without_its_details(make_pool):
    pool = make_pool(processes=1)
    with pytest.raises(ImsError) as e:
        await pool.run(None, pixelwork.broken)
    assert type(e.value) is ImsError and e.value.status == 500
    assert e.value.message == "image processing failed: ValueError"
    assert (await pool.run(None, pipeline.process, PHOTO, SMALL, Limits())).width == 32


@pytest.mark.parametrize("processes", [2, 1])
async def test_heavy_renders_leave_a_child_to_small_ones(make_pool, tmp_path, processes):
    pool = make_pool(processes=processes, seconds=30)
    first, second = tmp_path / "first", tmp_path / "second"
    heavy = [asyncio.ensure_future(pool.run(None, pixelwork.spin, 20, 10.0, str(path))) for path in (first, second)]
    await _until(lambda: first.exists() or second.exists())
    started = time.monotonic()
    out = await pool.run(None, pipeline.process, PHOTO, SMALL, Limits())
    assert out.width == 32 and time.monotonic() - started < 5  # (the heavy ones take 20 s each)
    assert not (first.exists() and second.exists())  # the second waits for a heavy turn
    for task in heavy:
        task.cancel()


async def test_renders_slower_than_estimated_do_not_hold_up_small_ones_either(make_pool, tmp_path):
    # two renders estimated light that run long: once both have run longer than heavy work
    # takes (1 s here), a small render gets a child of its own
    pool = make_pool(processes=2, seconds=30, heavy_seconds=1)
    started = [tmp_path / "a", tmp_path / "b"]
    slow = [asyncio.ensure_future(pool.run(None, pixelwork.spin, 20, 0.0, str(path))) for path in started]
    await _until(lambda: all(path.exists() for path in started))
    began = time.monotonic()
    out = await pool.run(None, pipeline.process, PHOTO, SMALL, Limits())
    assert out.width == 32 and time.monotonic() - began < 5  # (the slow ones take 20 s each)
    assert len(pool.pids()) == 3
    for task in slow:
        task.cancel()


async def test_a_child_that_grew_too_big_is_replaced_after_its_reply(make_pool):
    pool = make_pool(processes=1, max_rss=1)
    first = await pool.run(None, pixelwork.pid)
    await _until(lambda: _gone(first))
    second = await pool.run(None, pixelwork.pid)
    assert second != first


async def test_a_child_gives_freed_memory_back_after_its_reply(make_pool):
    """glibc keeps freed heap unless asked: without malloc_trim an idle child held it all."""
    pool = make_pool(processes=1)
    child = await pool.run(None, pixelwork.churn, 300)
    await _until(lambda: _rss_mb(child) < 150)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


async def test_shutdown_leaves_no_child_behind(make_pool, tmp_path):
    pool = make_pool(processes=2)
    started = tmp_path / "started"
    busy = asyncio.ensure_future(pool.run(None, pixelwork.spin, 60, started=str(started)))
    await _until(started.exists)
    idle = await pool.run(None, pixelwork.pid)  # the other child, idle from now on
    pids = pool.pids()
    assert len(pids) == 2 and idle in pids
    pool.shutdown()
    await _until(lambda: all(_gone(p) for p in pids))
    with pytest.raises(Unavailable) as e:  # transient: a background job tries again
        await busy
    assert e.value.message == "the server is shutting down"
    with pytest.raises(Unavailable):
        await pool.run(None, pixelwork.pid)


def test_children_die_with_their_parent(tmp_path):
    # a parent killed outright (no shutdown) while one child renders and one is idle
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        from ims.pool import PixelPool
        from tests.support import pixelwork

        async def main():
            pool = PixelPool(processes=2)
            busy = asyncio.ensure_future(pool.run(None, pixelwork.spin, 60, started={str(tmp_path / "s")!r}))
            while not os.path.exists({str(tmp_path / "s")!r}):
                await asyncio.sleep(0.02)
            await pool.run(None, pixelwork.pid)  # the other child, idle from now on
            print(" ".join(map(str, pool.pids())), flush=True)
            await busy

        if __name__ == "__main__":
            asyncio.run(main())
    """)
    path = tmp_path / "parent.py"
    path.write_text(script)
    repo = str(Path(__file__).resolve().parents[1])
    parent = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, cwd=repo,
                              env={**os.environ, "PYTHONPATH": repo})
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while not all(_gone(p) for p in pids):
        assert time.monotonic() < deadline, f"children left behind: {pids}"
        time.sleep(0.05)

