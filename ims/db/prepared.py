"""Statements every job runs, compiled once and executed with the least work per call.

``conn.execute(statement, values)`` does a lot of Python per call that a statement run
thousands of times a second does not need again: it builds an execution context, looks the
compiled form up in its cache, walks every bound parameter through ``construct_params``,
and sets up result metadata and a processor per column. On a trivial job that was about a
sixth of a worker's CPU (``bench/jobs_db.py``). ``Prepared(statement)`` compiles the
statement once per dialect into its driver SQL string, with the fixed parameters' values
and the processors of the parameters and columns that have one worked out up front; a call
then fills in the values, runs the string with ``exec_driver_sql`` — still SQLAlchemy's
connection, transaction, events and error handling (a lost connection is still noticed and
the connection invalidated) — and processes only the columns that need it.

Because the SQL string is the same on every call, psycopg prepares it on the server after
a few calls (``prepare_threshold``), as it did before: no parse and plan per call there either.

It covers what the hot statements use — bound parameters by name, RETURNING or SELECT
columns, a rowcount — and nothing else (no expanding ``IN`` lists, no ORM); anything else
goes through ``conn.execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # every bound parameter, in the order a positional driver takes them
    fixed: dict[str, Any]  # parameters with a value in the statement itself, already processed
    binds: dict[str, Callable | None]  # parameters the caller gives → their processor
    positional: bool
    results: dict[str, Callable]  # column name → its result processor (the columns that have one)


class Prepared:
    """One statement, run as ``prepared.rows(conn, values)`` (the rows, as dicts) or
    ``prepared.count(conn, values)`` (the rowcount). ``values`` are keyed by the parameters'
    names, as for ``conn.execute``."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}

    def rows(self, conn: Connection, values: Mapping[str, Any]) -> list[dict]:
        plan = self._plan(conn.dialect)
        result = conn.exec_driver_sql(plan.sql, self._parameters(plan, values))
        keys = list(result.keys())
        processors = [(i, plan.results[k]) for i, k in enumerate(keys) if k in plan.results]
        rows = []
        for raw in result.fetchall():
            row = list(raw)
            for i, process in processors:
                row[i] = process(row[i])
            rows.append(dict(zip(keys, row)))
        return rows

    def count(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """The number of rows the statement changed."""
        plan = self._plan(conn.dialect)
        return conn.exec_driver_sql(plan.sql, self._parameters(plan, values),
                                    execution_options={"preserve_rowcount": True}).rowcount

    @staticmethod
    def _parameters(plan: _Plan, values: Mapping[str, Any]) -> dict | tuple:
        given = dict(plan.fixed)
        for name, process in plan.binds.items():
            value = values[name]  # (a missing value is a bug in the caller: KeyError)
            given[name] = process(value) if process is not None and value is not None else value
        return tuple(given[name] for name in plan.names) if plan.positional else given

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _compile(self.statement, dialect)
        return plan


def _compile(statement: ClauseElement, dialect: Dialect) -> _Plan:
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.bind_names.values())
    fixed, binds = {}, {}
    for name in dict.fromkeys(names):
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.required:
            binds[name] = process
        else:
            value = bind.effective_value
            fixed[name] = process(value) if process is not None and value is not None else value
    results = {}
    for column in getattr(statement, "exported_columns", ()):
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            results[column.key] = process
    return _Plan(compiled.string, names, fixed, binds, compiled.positional, results)
