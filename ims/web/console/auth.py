"""Sign in with a project's API key (POSTed, never in a URL, a log line or a page); sign out."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from ims.errors import TooManyRequests, Unauthorized
from ims.manage.keys import authenticate
from ims.manage.sessions import end_session, find_session, start_session
from ims.web.console.render import field_errors, page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import (
    COOKIE,
    Form,
    Session,
    clear_cookie,
    client_address,
    set_cookie,
    sign_in_throttle,
)
from ims.web.deps import in_read, in_write, services

router = module_router()


@router.get("/sign-in")
async def sign_in_form(request: Request):
    if await in_read(services(request), find_session, request.cookies.get(COOKIE)):
        return redirect("/console")
    return page(request, None, "sign_in.html", title="Sign in")


@router.post("/sign-in")
async def sign_in(request: Request):
    svc = services(request)
    throttle, address = sign_in_throttle(request), client_address(request)
    wait = throttle.wait_seconds(address)
    if wait:
        refused = TooManyRequests(f"too many sign-in attempts, try again in {wait} s", field="api_key")
        response = page(request, None, "sign_in.html", status=refused.status, title="Sign in",
                        errors=field_errors(refused))
        response.headers["Retry-After"] = str(wait)
        return response
    key = (await request.form()).get("api_key")
    try:
        who = await run_in_threadpool(authenticate, svc.db, key if isinstance(key, str) else None)
    except Unauthorized as error:
        throttle.failed(address)
        message = error.message.replace("the x-api-key header is required", "enter your project's API key")
        message = message.replace("the x-api-key", "this API key")
        return page(request, None, "sign_in.html", status=401, title="Sign in", errors={"api_key": message})
    hours = svc.settings.console_session_hours
    session_id, _row = await in_write(svc, start_session, who.project_id, who.key_id, hours)
    response = redirect("/console")
    set_cookie(request, response, session_id, hours)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: Session, form: Form):
    await in_write(services(request), end_session, session.session_id_hash)
    response = redirect("/console/sign-in", flash="signed_out")
    clear_cookie(request, response)
    return response
