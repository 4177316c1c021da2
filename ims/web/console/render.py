"""Console pages: Jinja2 templates (autoescape on) and the security headers every reply carries."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ims.errors import ImsError

TEMPLATES = Path(__file__).parent / "templates"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

NAV = (
    ("Overview", "/console"),
    ("Sources", "/console/sources"),
    ("Destinations", "/console/destinations"),
    ("Webhooks", "/console/webhooks"),
    ("Jobs", "/console/jobs"),
    ("Bulk", "/console/bulk"),
    ("Presets", "/console/presets"),
    ("API keys", "/console/keys"),
)

# Messages shown after a redirect (``?flash=code``): fixed texts, never text from the URL.
# Page modules add their own codes.
FLASHES: dict[str, str] = {
    "signed_out": "You are signed out.",
}

env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)


def when(value: str | None) -> str:
    """An API timestamp (``2026-12-02T00:54:49.870706Z``) as ``2026-12-02 00:54:49 UTC``."""
    if not value:
        return "—"
    return value.replace("T", " ").split(".")[0].rstrip("Z") + " UTC"


env.filters["when"] = when


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def _active(path: str) -> str:
    """The nav entry a path belongs to (the longest matching prefix)."""
    best = "/console"
    for _, href in NAV:
        if path == href or path.startswith(href + "/"):
            best = href if len(href) > len(best) else best
    return best


def page(request: Request, session, template: str, *, status: int = 200, **ctx) -> HTMLResponse:
    """Render ``template`` for a signed-in ``session`` (None on the sign-in and error pages)."""
    session = session or getattr(request.state, "console_session", None)
    flash = ctx.pop("flash", None) or FLASHES.get(request.query_params.get("flash", ""))
    html = env.get_template(template).render(
        request=request,
        session=session,
        csrf_token=session.csrf_token if session else "",
        nav=NAV if session else (),
        active=_active(request.url.path),
        flash=flash,
        errors=ctx.pop("errors", None) or {},
        **ctx,
    )
    return secure(HTMLResponse(html, status_code=status))


def error_page(request: Request, status: int, message: str, *, title: str | None = None) -> HTMLResponse:
    return page(request, None, "error.html", status=status, message=message,
                title=title or {403: "Refused", 404: "Not found"}.get(status, "Something went wrong"))


def not_found_page(request: Request, message: str = "There is nothing here.") -> HTMLResponse:
    """The 404 page: also what another project's id in a console URL gets."""
    return error_page(request, 404, message, title="Not found")


def redirect(url: str, *, flash: str | None = None, **query) -> RedirectResponse:
    """303 after a POST; ``flash`` is a code of ``FLASHES``."""
    params = {**query, **({"flash": flash} if flash else {})}
    return secure(RedirectResponse(url + ("?" + urlencode(params) if params else ""), status_code=303))


def field_errors(error: ImsError) -> dict[str, str]:
    """An ``ims.errors`` error as {field: message} for a form (``_form`` when no field is named)."""
    out: dict[str, str] = {}
    for e in error.errors:
        out.setdefault(e.field or "_form", e.message)
    return out
