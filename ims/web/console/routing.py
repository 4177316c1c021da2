"""The console's route class: every reply gets the security headers, and what a handler
raises becomes a page — signed out → 303 to the sign-in page, a missing CSRF token → 403,
another project's (or no) object → the 404 page, any other ims error → its status with
its message, an unavailable database → a 503 page."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlalchemy import exc as db_errors

from ims.errors import ImsError, NotFound
from ims.web.console.render import error_page, not_found_page, redirect, secure
from ims.web.console.session import CsrfRefused, SignedOut, clear_cookie
from ims.web.errors import DATABASE_RETRY_AFTER, database_unavailable

log = logging.getLogger("ims.web.console")


class ConsoleRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def console_handler(request):
            try:
                response = await handler(request)
            except SignedOut:
                response = redirect("/console/sign-in")
                if "ims_console" in request.cookies:
                    clear_cookie(request, response)
            except CsrfRefused:
                response = error_page(request, 403, "This form was refused: it did not carry this session's "
                                      "security token. Go back, reload the page and try again.")
            except NotFound as error:
                response = not_found_page(request, error.message)
            except ImsError as error:
                if error.log:
                    log.error("%s: %s", error.code, error.message, exc_info=error)
                response = error_page(request, error.status, error.message)
            except db_errors.SQLAlchemyError as error:
                if not database_unavailable(error):
                    raise
                log.warning("database unavailable: %s", type(error).__name__)
                response = error_page(request, 503, "The database is unavailable; try again shortly.")
                response.headers["Retry-After"] = DATABASE_RETRY_AFTER
            return secure(response)

        return console_handler


def module_router() -> APIRouter:
    """The APIRouter a console page module declares its routes on (paths below /console)."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)
