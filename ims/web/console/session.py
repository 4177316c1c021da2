"""Console sign-in state: the session cookie, the signed-in dependency and CSRF checks.

The cookie holds an opaque random id (``HttpOnly``, ``SameSite=Strict``, ``Path=/console``,
``Secure`` over https); the database holds only its hash (``ims.manage.sessions``).
Every state-changing form carries the session's CSRF token; ``console_form`` refuses a
POST without the right one.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from ims.manage.sessions import SessionRow, find_session
from ims.web.console.throttle import Throttle
from ims.web.deps import in_read, services

COOKIE = "ims_console"
PATH = "/console"


@dataclass(frozen=True)
class ConsoleSession:
    project_id: str
    api_key_id: str
    csrf_token: str
    session_id_hash: str


class SignedOut(Exception):
    """No live session: the route answers 303 to the sign-in page."""


class CsrfRefused(Exception):
    """A state-changing form without this session's CSRF token: a 403 page."""


async def console_session(request: Request) -> ConsoleSession:
    """The signed-in session, or ``SignedOut`` (expired, signed out, or its key revoked)."""
    row: SessionRow | None = await in_read(services(request), find_session, request.cookies.get(COOKIE))
    if row is None:
        raise SignedOut()
    session = ConsoleSession(row.project_id, row.api_key_id, row.csrf_token, row.id_hash)
    request.state.console_session = session  # for error pages rendered by the route class
    return session


def check_csrf(form: FormData, session: ConsoleSession) -> None:
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise CsrfRefused()


async def console_form(request: Request, session: ConsoleSession = Depends(console_session)) -> FormData:
    """The POST's form fields, after checking its CSRF token."""
    form = await request.form()
    check_csrf(form, session)
    return form


Session = Annotated[ConsoleSession, Depends(console_session)]
Form = Annotated[FormData, Depends(console_form)]


def set_cookie(request: Request, response: Response, session_id: str, hours: int) -> None:
    response.set_cookie(COOKIE, session_id, max_age=hours * 3600, path=PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def sign_in_throttle(request: Request) -> Throttle:
    """This process's counter of failed sign-ins (one per app)."""
    state = request.app.state
    if getattr(state, "console_throttle", None) is None:
        state.console_throttle = Throttle()
    return state.console_throttle


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
