"""GroupCommit on SQLite and PostgreSQL: calls made together share one transaction, each
caller gets its own result, and one failing call fails only its caller."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text

from ims.db import Database
from ims.db.group import GroupCommit

pytestmark = pytest.mark.anyio

# Both ways of writing: in a worker thread (ims serve) and on the event loop's thread (ims worker).
ON_LOOP = pytest.mark.parametrize("on_loop", [False, True], ids=["thread", "loop"])

rows = Table("group_commit_rows", MetaData(), Column("n", Integer, primary_key=True))


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    rows.create(database.engine, checkfirst=True)
    yield database
    rows.drop(database.engine)
    database.dispose()


def counted(db) -> list:
    """A list that gets an item per transaction ``db`` opens from now on."""
    transactions = []
    write = db.write
    db.write = lambda **kw: (transactions.append(1), write(**kw))[1]
    return transactions


@ON_LOOP
async def test_calls_made_together_share_a_transaction_and_get_their_own_results(db, on_loop):
    group = GroupCommit(db, on_loop=on_loop)
    transactions = counted(db)

    def add(n):
        def write(conn):
            conn.execute(insert(rows).values(n=n))
            return n * 10
        return write

    results = await asyncio.gather(*(group.run(add(n)) for n in range(1, 6)))
    assert results == [10, 20, 30, 40, 50]
    assert len(transactions) == 1  # calls made in the same loop turn share one transaction
    assert len(await asyncio.gather(group.run(add(6)), group.run(add(7)))) == 2
    assert len(transactions) == 2
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(rows)).scalar() == 7


@ON_LOOP
async def test_a_failing_call_fails_only_its_caller(db, on_loop):
    group = GroupCommit(db, on_loop=on_loop)

    def add(n):
        def write(conn):
            conn.execute(insert(rows).values(n=n))
            return n
        return write

    def broken(conn):
        conn.execute(insert(rows).values(n=100))  # written, then rolled back with the failure
        raise ValueError("this call fails")

    results = await asyncio.gather(group.run(add(1)), group.run(add(2)), group.run(broken), group.run(add(3)),
                                   return_exceptions=True)
    assert results[:2] == [1, 2] and results[3] == 3
    assert isinstance(results[2], ValueError)
    with db.read() as conn:
        assert sorted(conn.execute(select(rows.c.n)).scalars()) == [1, 2, 3]


@ON_LOOP
async def test_a_database_error_reaches_the_caller(db, on_loop):
    group = GroupCommit(db, on_loop=on_loop)
    await group.run(lambda conn: conn.execute(insert(rows).values(n=7)))
    with pytest.raises(Exception) as caught:
        await group.run(lambda conn: conn.execute(insert(rows).values(n=7)))  # duplicate key
    assert "group_commit_rows" in str(caught.value) or "UNIQUE" in str(caught.value).upper()


async def test_a_call_whose_connection_dies_under_it_is_tried_once_more(pg_url):
    database = Database(pg_url)
    rows.create(database.engine, checkfirst=True)
    calls = []

    def write(conn):
        calls.append(1)
        if len(calls) == 1:  # the server drops this connection mid-transaction (as in a failover)
            conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        conn.execute(insert(rows).values(n=len(calls)))
        return "written"

    try:
        assert await GroupCommit(database, on_loop=True).run(write) == "written"
        assert len(calls) == 2
        with database.read() as conn:
            assert list(conn.execute(select(rows.c.n)).scalars()) == [2]
    finally:
        rows.drop(database.engine)
        database.dispose()


async def test_a_kept_connection_that_died_between_calls_is_replaced(pg_url):
    """The group keeps its connection from one transaction to the next, without the pool's
    liveness ping: one the server dropped meanwhile (a restart, an idle timeout) costs the
    next call one more try, not an error."""
    database = Database(pg_url)
    rows.create(database.engine, checkfirst=True)
    group = GroupCommit(database, on_loop=True)
    try:
        first = await group.run(lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar())
        assert await group.run(lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar()) == first
        with database.read() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first})  # waits for the exit
        await group.run(lambda conn: conn.execute(insert(rows).values(n=1)))
        second = await group.run(lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar())
        assert second != first
        with database.read() as conn:
            assert list(conn.execute(select(rows.c.n)).scalars()) == [1]
    finally:
        await group.aclose()
        rows.drop(database.engine)
        database.dispose()


@ON_LOOP
async def test_a_patient_call_rides_along_with_the_next_urgent_one(db, on_loop):
    group = GroupCommit(db, on_loop=on_loop)
    transactions = counted(db)
    loop = asyncio.get_running_loop()
    started = loop.time()
    patient = asyncio.ensure_future(group.run(lambda conn: conn.execute(insert(rows).values(n=1)), patience=5.0))
    await asyncio.sleep(0.05)
    assert not patient.done()  # still waiting for company
    await group.run(lambda conn: conn.execute(insert(rows).values(n=2)))
    await patient
    assert loop.time() - started < 1.0  # written with the urgent call, long before its patience ran out
    assert len(transactions) == 1
    alone = await asyncio.wait_for(group.run(lambda conn: "alone", patience=0.05), timeout=2)
    assert alone == "alone" and len(transactions) == 2  # with no company it is written all the same
    await group.aclose()
    with db.read() as conn:
        assert sorted(conn.execute(select(rows.c.n)).scalars()) == [1, 2]


@ON_LOOP
async def test_closing_writes_what_is_still_queued(db, on_loop):
    group = GroupCommit(db, on_loop=on_loop)
    patient = asyncio.ensure_future(group.run(lambda conn: conn.execute(insert(rows).values(n=9)), patience=60))
    await asyncio.sleep(0)
    await group.aclose()
    await asyncio.wait_for(patient, timeout=1)
    with db.read() as conn:
        assert list(conn.execute(select(rows.c.n)).scalars()) == [9]


async def test_a_stalled_database_freezes_the_loop_once_for_a_bounded_time_not_for_the_outage(pg_url):
    """PostgreSQL stops answering (a black-holed connection: open, silent) while writes run on
    the loop: the loop is held once, for no more than the database's bound (a wait that ends in
    a closed connection, and the reconnect that fails); the writes after that fail in a thread
    while the loop keeps turning, and the first write once the database answers again commits."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from tests.support.tcpproxy import StallingProxy

    setup = Database(pg_url)
    rows.create(setup.engine, checkfirst=True)
    proxy = StallingProxy(make_url(pg_url).port or 5432).start()
    database = Database(make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False), bound=2)
    group = GroupCommit(database, on_loop=True)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def tick():
        while True:
            before = loop.time()
            await asyncio.sleep(0.02)
            gaps.append(loop.time() - before)

    ticker = asyncio.create_task(tick())
    try:
        await group.run(lambda conn: conn.execute(insert(rows).values(n=1)))
        proxy.stall()
        failures, until = 0, loop.time() + 10  # five times the bound
        while loop.time() < until:
            try:
                await group.run(lambda conn: conn.execute(text("SELECT 1")))
            except SQLAlchemyError:
                failures += 1
            await asyncio.sleep(0.1)
        proxy.release()
        deadline = loop.time() + 15
        while True:
            try:
                await group.run(lambda conn: conn.execute(insert(rows).values(n=2)))
                break
            except SQLAlchemyError:
                assert loop.time() < deadline, "no write got through after the database came back"
                await asyncio.sleep(0.1)
    finally:
        proxy.release()
        ticker.cancel()
        await group.aclose()
        database.dispose()
        proxy.close()
    held = [gap for gap in gaps if gap > 1.0]
    assert failures >= 2
    assert len(held) <= 1 and max(gaps) < 2 * database.bound + 1.5, sorted(gaps)[-5:]
    with setup.read() as conn:
        assert sorted(conn.execute(select(rows.c.n)).scalars()) == [1, 2]
    rows.drop(setup.engine)
    setup.dispose()


async def test_a_sqlite_lock_held_by_another_process_holds_the_loop_for_the_bound_not_the_lease(tmp_path):
    """Another process keeps SQLite's write lock: a write on the loop fails after ``busy_timeout``
    (the database's bound, a third of the lease at most), where it used to wait 30 s — as long
    as the default lease itself."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from ims.db.engine import wait_seconds

    assert wait_seconds(30) == 5 and wait_seconds(6) == 2 and wait_seconds(3) == 2
    database = Database(f"sqlite:///{tmp_path}/locked.db", bound=wait_seconds(6))
    rows.create(database.engine)
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    group = GroupCommit(database, on_loop=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(OperationalError, match="locked"):
            await group.run(lambda conn: conn.execute(insert(rows).values(n=1)))
        assert loop.time() - started < 3 * database.bound + 1  # the batch, then it alone again, in a thread
    finally:
        holder.rollback()
        holder.close()
    await group.run(lambda conn: conn.execute(insert(rows).values(n=1)))
    await group.aclose()
    database.dispose()
