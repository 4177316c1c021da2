"""Logs: one line per event on stderr, as ``key=value`` text or as JSON, configured once.

    configure(settings.log_format, settings.log_level)     once, by the ``ims`` command
    event(log, "request", method="GET", path="/default/a.jpg?w=300", status=200, ms=1.8)

A JSON line is one object with stable keys: ``ts`` (UTC, ISO 8601, milliseconds),
``level`` (``debug`` … ``critical``), ``event`` and ``logger``, then the event's own
fields. An ordinary log call (``log.warning("claim failed: %s", …)``, uvicorn's start-up
lines) is the event ``log`` with a ``message``; one carrying an exception adds its
``traceback``. A text line is the time, the level, then the event and its ``key=value``
pairs (a value with spaces, quotes or control characters JSON-quoted, so an event stays one
line), or ``logger: message`` for an ordinary call.

The events ims writes (their fields are all there is: nothing else is ever logged):

    request           method path status bytes ms [cache] [client]      (ims.web.access)
    error             status code reason                                (ims.web.errors)
    job_end           job_id status attempts ms [error]                 (ims.jobs.worker)
    job_retry         job_id attempts ms error
    delivery_attempt  delivery_id job_id endpoint_id status_code|error latency_ms

Secrets stay out because callers pass only those fields: a request's path goes through
``without_signature`` (``s`` removed, ``expires`` kept), no header is logged, nor a webhook's
URL, body or response.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from urllib.parse import unquote_plus

QUIET = ("alembic", "pyvips", "httpx", "httpcore")  # chatty at INFO about nothing an operator needs


def configure(log_format: str = "text", level: str = "info") -> None:
    """Send every log record (ims's and uvicorn's) through one handler on stderr.

    Replaces the handler a previous call installed, leaving any other (pytest's) alone."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler._ims = True  # noqa: SLF001  (marks ours, for the next call)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_ims", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def event(logger: logging.Logger, name: str, level: int = logging.INFO, /, *, exc_info=None, **fields) -> None:
    """Log the event ``name`` with ``fields`` (None values are left out); with ``exc_info``, its traceback.

    (The record is made here, not by ``logger.log``, which would walk the stack for the caller's
    file and line: a tenth of what a request's line costs, for fields no event prints.)"""
    if logger.isEnabledFor(level):
        if exc_info is not None and not isinstance(exc_info, tuple):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        logger.handle(logger.makeRecord(logger.name, level, "", 0, name, (), exc_info,
                                        extra={"ims_event": name, "ims_fields": fields}))


def without_signature(query: str) -> str:
    """The query string as sent, without its ``s`` parameter (a signature is a credential).

    ``s`` is found however it is spelled (``%73``); ``expires`` and the rest are kept. (Unlike
    ``ims.signing.strip_signature`` this never refuses a query: every request is logged, the
    ones with two ``s`` too.)"""
    if "s" not in query and "%" not in query:
        return query
    return "&".join(part for part in query.split("&") if unquote_plus(part.partition("=")[0]) != "s")


_second: list = [None, ""]  # the last whole second formatted, and its text (one strftime a second)


def _timestamp(created: float) -> str:
    second = int(created)
    if _second[0] != second:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{int((created - second) * 1000):03d}Z"


def _fields(record: logging.LogRecord) -> dict:
    """The record as ordered fields: ts, level, event, logger, then the event's own."""
    ts = _timestamp(record.created)
    name = getattr(record, "ims_event", None)
    out = {"ts": ts, "level": record.levelname.lower(), "event": name or "log", "logger": record.name}
    if name is None:
        out["message"] = record.getMessage()
    else:
        out.update((k, v) for k, v in record.ims_fields.items() if v is not None)
    return out


def _traceback(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[0] is not None:
        return formatter.formatException(record.exc_info)
    return None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = _fields(record)
        if (trace := _traceback(self, record)) is not None:
            out["traceback"] = trace
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = _fields(record)
        head = f"{out.pop('ts')} {out.pop('level').upper()}"
        name, logger = out.pop("event"), out.pop("logger")
        if hasattr(record, "ims_event"):
            line = " ".join([head, name, *(f"{k}={_text(v)}" for k, v in out.items())])
        else:  # an ordinary log line: "logger: message"
            line = f"{head} {logger}: {out['message']}"
        if (trace := _traceback(self, record)) is not None:
            line += "\n" + trace
        return line


_BARE = re.compile(r"[!#-<>-~]+")  # printable ASCII but space, '"' and '=': written as it is


def _text(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if _BARE.fullmatch(text) else json.dumps(text, ensure_ascii=False)
