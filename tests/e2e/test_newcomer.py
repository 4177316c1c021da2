"""A newcomer's first requests against a real `ims serve` (issue 10 items 1, 6, 7): URLs built by
the imgix SDK, curl without a content type, the API docs with no internet."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import urlsplit

import httpx
import pytest
import pyvips
from imgix import UrlBuilder

from tests.support.procs import BOOTSTRAP_KEY, Server, ims_env

TOKEN = "imgix-token-e2e-0123456789"
HOST = "img.newcomer.test"
KEY = "summer 2024/café é.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("newcomer") / "var"
    data_dir.mkdir()
    serve = Server(ims_env(data_dir, f"sqlite:///{data_dir / 'ims.db'}", IMS_WORKERS="0",
                           IMS_IGNORED_PARAMS="utm_source"),
                   data_dir / "serve.log")
    directory = data_dir / "sources" / "legacy"
    (directory / "summer 2024").mkdir(parents=True)
    pyvips.Image.black(800, 400).write_to_file(str(directory / KEY))
    reply = serve.http.post("/api/v1/sources", json={
        "name": "legacy", "kind": "fs", "path": str(directory), "access": "signed",
        "signature": "imgix-md5", "signing_key": TOKEN, "hostnames": [HOST]})
    assert reply.status_code == 201, reply.text
    yield serve
    serve.stop()


def _fetch(server: Server, sdk_url: str, *, host: str | None = None) -> httpx.Response:
    """GET the SDK's path and query, exactly as built, from the real server."""
    parts = urlsplit(sdk_url)
    headers = {"host": host} if host else {}
    with httpx.Client(timeout=30) as client:
        return client.get(f"{server.url}{parts.path}?{parts.query}", headers=headers)


def _width(reply: httpx.Response) -> int:
    assert reply.status_code == 200, reply.text
    return pyvips.Image.new_from_buffer(reply.content, "").width


def test_imgix_sdk_urls_work_over_http_in_path_and_host_form(server):
    path_form = UrlBuilder("ims.example.test", sign_key=TOKEN)
    host_form = UrlBuilder(HOST, sign_key=TOKEN)

    url = path_form.create_url("legacy/" + KEY, {"w": 300, "utm_source": "newsletter"})
    assert "ixlib=python-" in url and "%C3%A9" in url and "%20" in url
    assert _width(_fetch(server, url)) == 300
    for entry in host_form.create_srcset(KEY, {"w": 100}).split(",\n"):
        url, descriptor = entry.rsplit(" ", 1)
        assert _width(_fetch(server, url, host=HOST)) == 100 * int(descriptor[:-1])

    tampered = host_form.create_url(KEY, {"w": 300}).replace("ixlib=python-", "ixlib=php-")
    assert _fetch(server, tampered, host=HOST).status_code == 403


def _curl(server: Server, *args: str) -> tuple[int, dict]:
    done = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-H", f"x-api-key: {BOOTSTRAP_KEY}", *args],
                          capture_output=True, text=True, timeout=60, check=True)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


def test_curl_without_a_content_type_is_told_to_send_json(server):
    source_id = server.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    payload = json.dumps({"source_id": source_id, "object_key": "a.jpg", "parameters": {"w": 1600}})
    url = f"{server.url}/api/processes/v1/background_processes"

    status, body = _curl(server, "-d", payload, url)
    assert status == 400, body
    assert body["errors"][0]["field"] == "content-type"
    assert "content-type: application/json" in body["message"]

    status, body = _curl(server, "-H", "content-type: application/json", "-d", payload, url)
    assert status == 202, body


def test_the_api_docs_load_with_no_internet(server):
    for page in ("/docs", "/redoc"):
        html = server.http.get(page).text
        assert "https://" not in html and "http://" not in html, html
        for url in re.findall(r"""(?:src|href)="([^"]+)\"""", html):
            reply = server.http.get(url)
            assert reply.status_code == 200 and len(reply.content) > 0, url
    spec = server.http.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "x-api-key"
    assert "fit" in {p["name"] for p in spec["paths"]["/{path}"]["get"]["parameters"]}
