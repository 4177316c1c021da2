"""/docs and /redoc work offline, with an x-api-key scheme and the image parameters (issue 10 item 6)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from ims.params import TABLE

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "ims" / "web" / "static" / "docs"
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html) + \
        re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize("page, asset", [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_the_docs_pages_load_only_local_assets(sqlite_app, page, asset):
    reply = sqlite_app.client.get(page)

    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    html = reply.text
    assert "https://" not in html and "http://" not in html and "//cdn" not in html, html
    references = _references(html)
    assert f"/static/docs/{asset}" in references and "/openapi.json" in references, references
    for url in references:
        assert url.startswith("/") and not url.startswith("//"), url
        served = sqlite_app.client.get(url)
        assert served.status_code == 200, url
        suffix = Path(url).suffix
        if suffix in TYPES:
            assert served.headers["content-type"].startswith(TYPES[suffix]), (url, served.headers)
            assert served.content == (ASSETS / Path(url).name).read_bytes()


def test_swagger_ui_does_not_call_the_online_validator(sqlite_app):
    assert '"validatorUrl": null' in sqlite_app.client.get("/docs").text


def test_a_missing_asset_is_a_404_not_an_image_lookup(sqlite_app):
    reply = sqlite_app.client.get("/static/docs/nothing-here.js")

    assert reply.status_code == 404


def test_openapi_declares_the_api_key_scheme_on_the_routes_that_need_it(sqlite_app):
    spec = sqlite_app.client.get("/openapi.json").json()

    assert spec["components"]["securitySchemes"] == {"ApiKey": {
        "type": "apiKey", "in": "header", "name": "x-api-key",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"]}}
    operations = {(path, method): op for path, methods in spec["paths"].items() for method, op in methods.items()}
    assert operations[("/api/v1/sources", "get")]["security"] == [{"ApiKey": []}]
    assert operations[("/api/processes/v1/background_processes", "post")]["security"] == [{"ApiKey": []}]
    for (path, method), operation in operations.items():
        if path.startswith("/api/"):
            assert operation.get("security") == [{"ApiKey": []}], (method, path)
    assert "security" not in operations[("/healthz", "get")]
    # an image needs a key only on a private source: optional
    assert operations[("/{path}", "get")]["security"] == [{}, {"ApiKey": []}]


def test_the_key_sent_as_swagger_ui_sends_it_is_accepted_and_a_missing_one_is_imss_401(sqlite_app):
    assert sqlite_app.api("GET", "/api/v1/sources").status_code == 200
    reply = sqlite_app.api("GET", "/api/v1/sources", key=None)
    assert reply.status_code == 401
    assert reply.json()["errors"][0]["field"] == "x-api-key"


def test_openapi_documents_every_image_parameter_from_the_parameter_table(sqlite_app):
    spec = sqlite_app.client.get("/openapi.json").json()

    for method in ("get", "head"):
        parameters = spec["paths"]["/{path}"][method]["parameters"]
        by_name = {p["name"]: p for p in parameters if p["in"] == "query"}
        assert [p["name"] for p in parameters if p["in"] == "path"] == ["path"]
        for param in TABLE:
            documented = by_name[param.name]
            assert param.allowed.lower() in documented["description"].lower(), documented
            for alias in param.aliases:
                assert alias in documented["description"], (alias, documented)
        for name in ("s", "expires", "preset", "ixlib", "ixid"):
            assert name in by_name
    assert "1–8192" in {p["name"]: p for p in parameters}["w"]["description"]


def test_the_vendored_assets_are_package_data():
    """A non-editable install ships every vendored file (and the licences beside them)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ims"]
    files = [p.relative_to(ROOT / "ims").as_posix() for p in ASSETS.iterdir()]

    assert {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "NOTICE.md",
            "swagger-ui.LICENSE", "redoc.LICENSE"} <= {Path(f).name for f in files}
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) and "/" not in name[len(pattern.rsplit("/", 1)[0]) + 1:]
                   for pattern in patterns), name
