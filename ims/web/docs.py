"""API docs that work offline: Swagger UI at ``/docs``, ReDoc at ``/redoc`` (issue 10 item 6).

Their scripts and styles are vendored in ``ims/web/static/docs`` (versions and licences in
its ``NOTICE.md``) and served at ``/static/docs``, so the pages load nothing from a CDN.
The image route's query parameters are documented from ``ims.params.TABLE``, the same
table the parser reads, so the docs cannot drift from what is accepted.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ims.config import ALWAYS_IGNORED_PARAMS
from ims.params import TABLE

ASSETS = Path(__file__).parent / "static" / "docs"
ASSETS_URL = "/static/docs"


def install(app: FastAPI) -> None:
    """Add the asset route and both pages; call before the image router's catch-all."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} — API docs",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
            # validatorUrl null: Swagger UI would otherwise fetch a badge from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} — API reference",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
            with_google_fonts=False,
        )


def image_query_parameters() -> list[dict]:
    """OpenAPI ``parameters`` of ``GET /{source}/{object_key}``: one per row of the parameter
    table (its aliases named in the description), then signing and the ignored names."""
    parameters = [
        _query(param.name, f"{param.allowed[:1].upper()}{param.allowed[1:]}."
               + (f" Also accepted as: {', '.join(param.aliases)}." if param.aliases else ""))
        for param in TABLE
    ]
    parameters.append(_query("preset", "A preset of the source's project (POST /api/v1/presets): its parameters "
                                       "apply, the other parameters of the URL override them. The only one "
                                       "(with s and expires) a presets_only source takes."))
    parameters.append(_query("expires", "Unix seconds after which a signed URL answers 410 (signed with it)."))
    parameters += [
        _query(name, "Accepted and ignored (imgix SDKs add it); kept in the signed message, "
                     "left out of the cache key and ETag. IMS_IGNORED_PARAMS adds more names.")
        for name in ALWAYS_IGNORED_PARAMS
    ]
    parameters.append(_query("s", "The URL signature, last in the query: required on a signed source "
                                  "(HMAC-SHA256 or imgix md5 of path + '?' + query without s)."))
    return parameters


def _query(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}}
