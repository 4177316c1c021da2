"""``Prepared`` runs a statement as ``conn.execute`` would, on SQLite and PostgreSQL: the same
rows with the same Python values (aware datetimes, decoded JSON), a fixed value in the
statement kept, the rowcount of a write, and a database error as SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import JSON, Integer, String, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from ims.db import Database
from ims.db.prepared import Prepared
from ims.db.tables import jobs, projects
from ims.db.types import UTCDateTime

PROJECT = "a" * 24
AT = datetime(2026, 12, 2, 13, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    database.migrate()
    with database.write() as conn:
        conn.execute(insert(projects).values(id=PROJECT, name="p", created_at=AT))
        conn.execute(insert(jobs), [
            {"id": f"{i:024x}", "project_id": PROJECT, "source_id": "s" * 24, "object_key": f"k/{i}.png",
             "params": "", "destination_key": f"d/{i}.png", "destination_ids": ["d" * 24],
             "metadata": {"n": i, "tags": ["é", None]} if i else None, "webhook_url": None, "status": "queued",
             "attempts": 0, "max_attempts": 3, "run_at": AT + timedelta(seconds=i), "created_at": AT,
             "updated_at": AT}
            for i in range(3)])
    yield database
    database.dispose()


def test_rows_are_those_conn_execute_gives(db):
    statement = (select(jobs, bindparam("extra", type_=Integer()).label("extra"))
                 .where(jobs.c.status == "queued", jobs.c.run_at >= bindparam("since", type_=UTCDateTime()))
                 .order_by(jobs.c.run_at))
    values = {"since": AT, "extra": 7}
    with db.read() as conn:
        expected = [dict(r) for r in conn.execute(statement, values).mappings()]
        got = Prepared(statement).rows(conn, values)
    assert got == expected and len(got) == 3
    assert got[0]["run_at"] == AT and got[0]["run_at"].tzinfo is not None
    assert got[1]["metadata"] == {"n": 1, "tags": ["é", None]} and got[0]["metadata"] is None
    assert got[2]["destination_ids"] == ["d" * 24] and got[2]["extra"] == 7


def test_a_write_keeps_the_statements_own_values_and_counts_its_rows(db):
    moved = Prepared(update(jobs)
                     .where(jobs.c.status == "queued", jobs.c.attempts < bindparam("below", type_=Integer()))
                     .values(status="processing", lease_token=bindparam("token", type_=String()),
                             result=bindparam("outcome", type_=JSON()),
                             updated_at=bindparam("now", type_=UTCDateTime())))
    later = AT + timedelta(minutes=1)
    with db.write() as conn:
        assert moved.count(conn, {"below": 1, "token": "t" * 32, "outcome": {"size": 95}, "now": later}) == 3
        assert moved.count(conn, {"below": 1, "token": "u" * 32, "outcome": None, "now": later}) == 0
    with db.read() as conn:
        rows = conn.execute(select(jobs.c.status, jobs.c.lease_token, jobs.c.result, jobs.c.updated_at)).all()
    assert [tuple(r) for r in rows] == [("processing", "t" * 32, {"size": 95}, later)] * 3


def test_a_database_error_is_sqlalchemys(db):
    again = Prepared(insert(projects).values(id=bindparam("pid", type_=String()), name="p",
                                             created_at=bindparam("at", type_=UTCDateTime())))
    with pytest.raises(IntegrityError), db.write() as conn:
        again.count(conn, {"pid": PROJECT, "at": AT})
