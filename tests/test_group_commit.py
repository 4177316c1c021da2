"""GroupCommit on SQLite and PostgreSQL: calls made together share one transaction, each
caller gets its own result, and one failing call fails only its caller."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from ims.db import Database
from ims.db.group import GroupCommit

pytestmark = pytest.mark.anyio

rows = Table("group_commit_rows", MetaData(), Column("n", Integer, primary_key=True))


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    rows.create(database.engine, checkfirst=True)
    yield database
    rows.drop(database.engine)
    database.dispose()


async def test_calls_made_together_share_a_transaction_and_get_their_own_results(db):
    group = GroupCommit(db)

    def add(n):
        def write(conn):
            conn.execute(insert(rows).values(n=n))
            return n * 10, conn.connection.dbapi_connection
        return write

    results = await asyncio.gather(*(group.run(add(n)) for n in range(1, 6)))
    assert [value for value, _ in results] == [10, 20, 30, 40, 50]
    # The first call is written alone (nothing else was queued yet); the other four arrived
    # while it was being written, and went into the next transaction together.
    connections = [c for _, c in results]
    assert len({id(c) for c in connections[1:]}) == 1
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(rows)).scalar() == 5


async def test_a_failing_call_fails_only_its_caller(db):
    group = GroupCommit(db)

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


async def test_a_database_error_reaches_the_caller(db):
    group = GroupCommit(db)
    await group.run(lambda conn: conn.execute(insert(rows).values(n=7)))
    with pytest.raises(Exception) as caught:
        await group.run(lambda conn: conn.execute(insert(rows).values(n=7)))  # duplicate key
    assert "group_commit_rows" in str(caught.value) or "UNIQUE" in str(caught.value).upper()
