"""The one place error replies are made: ImsError, request validation, routing errors, crashes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as db_errors
from starlette.exceptions import HTTPException

from ims.errors import FieldError, ImsError, Unavailable, ValidationFailed
from ims.logs import event
from ims.web.access import request_path

log = logging.getLogger("ims.web")

_STATUS_MESSAGES = {404: "No such route", 405: "Method not allowed for this route"}


def install(app: FastAPI) -> None:
    app.add_exception_handler(ImsError, _ims_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(db_errors.SQLAlchemyError, _database_error)
    app.add_exception_handler(Exception, _crash)


def error_response(error: ImsError) -> JSONResponse:
    """The reply to ``error``; one worth logging (its ``log`` flag: a storage failure, not a bad
    parameter) is logged with its reason. The ``request`` line that follows has the path."""
    if error.log:
        event(log, "error", logging.ERROR, status=error.status, code=error.code, reason=error.message,
              exc_info=error if error.code == "internal" else None)  # (internal: a bug, worth its traceback)
    return JSONResponse(error.envelope(), status_code=error.status, headers=error.headers)


async def _ims_error(_request: Request, error: ImsError) -> JSONResponse:
    return error_response(error)


async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    return error_response(validation_failed(error.errors()))


def validation_failed(pydantic_errors) -> ValidationFailed:
    """Pydantic's errors (a request body's, or a model built from a console form) as the 400 the API gives."""
    errors = [_field_error(e) for e in pydantic_errors]
    message = errors[0].message if len(errors) == 1 else "invalid request: " + "; ".join(e.message for e in errors)
    return ValidationFailed(message, errors=errors)


def _field_error(e: dict) -> FieldError:
    """Turn one pydantic error into (field, message) a person can act on."""
    loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or None
    kind = e.get("type", "")
    if kind == "json_invalid":
        ctx = e.get("ctx", {}).get("error", "")
        return FieldError(None, f"the body is not valid JSON ({ctx})" if ctx else "the body is not valid JSON")
    if kind == "missing" and field is None:
        return FieldError(None, "a JSON object body is required")
    if kind in ("model_attributes_type", "dict_type") and field is None:
        return FieldError(None, "the body must be a JSON object")
    if kind == "missing":
        return FieldError(field, f"{field} is required")
    if kind == "extra_forbidden":
        return FieldError(field, f"unknown field {field!r}")
    return FieldError(field, f"{field}: {e.get('msg', 'invalid value')}" if field else e.get("msg", "invalid"))


async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
    message = _STATUS_MESSAGES.get(error.status_code) or _unreadable_body(error) or str(error.detail)
    body = {"status_code": error.status_code, "message": message, "errors": [{"field": None, "message": message}]}
    return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))


def _unreadable_body(error: HTTPException) -> str | None:
    """FastAPI answers 400 "There was an error parsing the body" to a JSON body that ``json.loads``
    raised other than JSONDecodeError on, chaining the cause: say which way the body is wrong."""
    cause = error.__cause__
    if isinstance(cause, RecursionError):
        return "the body cannot be read: it nests too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid UTF-8 text"
    if isinstance(cause, ValueError):  # int(): "Exceeds the limit (4300 digits) for integer string conversion"
        return "the body cannot be read: it holds an integer of more than 4300 digits"
    return None


async def _crash(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request_path(request.scope), exc_info=error)
    body = {"status_code": 500, "message": "Internal error", "errors": [{"field": None, "message": "Internal error"}]}
    return JSONResponse(body, status_code=500)


DATABASE_RETRY_AFTER = "5"  # seconds: about how long the database's bounded waits take to fail


def database_unavailable(error: Exception) -> bool:
    """The database is down, unreachable, too slow or locked: not a bug, a 503 worth retrying.

    OperationalError covers a lost or refused connection, a connect or statement timeout and
    SQLite's "database is locked"; InterfaceError a connection already closed; TimeoutError
    a pool with no connection free in time.
    """
    if isinstance(error, db_errors.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (db_errors.OperationalError, db_errors.InterfaceError, db_errors.TimeoutError,
                              db_errors.DisconnectionError))


async def _database_error(request: Request, error: db_errors.SQLAlchemyError) -> JSONResponse:
    if not database_unavailable(error):
        return await _crash(request, error)
    log.warning("database unavailable: %s", str(error).splitlines()[0] if str(error) else type(error).__name__)
    return error_response(Unavailable("the database is unavailable, try again shortly",
                                      headers={"Retry-After": DATABASE_RETRY_AFTER}))
