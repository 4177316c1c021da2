"""Local webhook development without a restart (issue 10 item 5): `ims serve --dev` (what
`make run` starts) delivers to `ims webhooks listen` on localhost; a plain `ims serve` refuses it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.support.cli import Started
from tests.support.procs import BOOTSTRAP_KEY, free_port, ims_env
from tests.support.testdata import IMAGES

pytestmark = pytest.mark.slow
JOBS = "/api/processes/v1/background_processes"
MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def _serve(tmp_path: Path, *options: str) -> tuple[Started, httpx.Client]:
    """`ims serve OPTIONS` on a fresh SQLite data dir with the default env: private networks refused."""
    port = free_port()
    env = ims_env(tmp_path / "var", f"sqlite:///{tmp_path}/var/ims.db",
                  IMS_ALLOW_PRIVATE_NETWORKS="0", IMS_WORKERS="1", IMS_PORT=str(port))
    server = Started("serve", *options, env=env, log=tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    server.wait_ready(url)
    return server, httpx.Client(base_url=url, headers={"x-api-key": BOOTSTRAP_KEY}, timeout=30)


def test_make_run_starts_the_development_mode():
    recipe = MAKEFILE.read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "ims serve --dev" in recipe, recipe


def test_dev_serve_delivers_to_webhooks_listen_on_localhost_verified(tmp_path):
    server, http = _serve(tmp_path, "--dev")
    listener = None
    try:
        banner = server.output()
        assert "Development mode (--dev): webhook receivers on this machine (localhost, 127.0.0.1, ::1) " \
               "are allowed" in banner, banner

        listen_port = free_port()
        endpoint = http.post("/api/v1/webhook_endpoints", json={"url": f"http://localhost:{listen_port}/hooks"})
        assert endpoint.status_code == 201, endpoint.text
        secret = endpoint.json()["response"]["secret"]
        listener = Started("webhooks", "listen", "--port", str(listen_port), "--secret", secret,
                           env=ims_env(tmp_path / "var", "sqlite://"), log=tmp_path / "listen.log")
        listener.wait_for_output("verifying signatures")

        photo = tmp_path / "var" / "sources" / "default" / "photo.jpg"
        shutil.copyfile(IMAGES / "photos" / "cardinal-2mp.jpg", photo)
        source_id = http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
        job = http.post(JOBS, json={"source_id": source_id, "object_key": "photo.jpg", "parameters": {"w": 64}})
        assert job.status_code == 202, job.text
        job_id = job.json()["response"]["job_id"]

        printed = listener.wait_for_output(job_id)
        block = printed[printed.index("--- "):]
        assert "POST /hooks" in block
        assert "verification: ok" in block, block
        assert "event:        background_process.succeeded" in block, block
        body = json.loads(re.search(r"^\{.*?^\}", block, re.S | re.M).group(0))
        assert body["status_code"] == 200 and body["response"]["job_id"] == job_id
    finally:
        if listener is not None:
            listener.stop()
        http.close()
        server.stop()


def test_plain_serve_still_refuses_a_loopback_receiver_and_says_how(tmp_path):
    server, http = _serve(tmp_path)
    try:
        banner = server.output()
        assert "Private networks: refused" in banner and "Development mode" not in banner, banner

        for url in ("http://localhost:9000/hooks", "http://127.0.0.1:9000/hooks", "http://[::1]:9000/hooks"):
            refused = http.post("/api/v1/webhook_endpoints", json={"url": url})
            assert refused.status_code == 400, refused.text
            error = refused.json()
            assert error["errors"][0]["field"] == "url"
            assert "a loopback, private, link-local or metadata address" in error["message"]
            assert "`ims serve --dev`" in error["message"], error["message"]

        source_id = http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
        job = http.post(JOBS, json={"source_id": source_id, "object_key": "photo.jpg",
                                    "webhook_url": "http://127.0.0.1:9000/hooks"})
        assert job.status_code == 400, job.text
        assert job.json()["errors"][0]["field"] == "webhook_url"
        assert "`ims serve --dev`" in job.json()["message"]
    finally:
        http.close()
        server.stop()


def test_dev_mode_allows_loopback_only_not_other_private_networks(tmp_path):
    server, http = _serve(tmp_path, "--dev")
    try:
        for url in ("http://10.1.2.3/hooks", "http://192.168.0.10/hooks", "http://169.254.169.254/latest"):
            refused = http.post("/api/v1/webhook_endpoints", json={"url": url})
            assert refused.status_code == 400, refused.text
            assert refused.json()["errors"][0]["field"] == "url"
            assert "`ims serve --dev`" not in refused.json()["message"]  # the hint is for loopback only
        source = http.post("/api/v1/sources", json={"name": "local", "kind": "http",
                                                     "base_url": "http://127.0.0.1:9/"})
        assert source.status_code == 400, source.text  # loopback is allowed for webhook receivers only
        assert source.json()["errors"][0]["field"] == "base_url"
    finally:
        http.close()
        server.stop()
