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
