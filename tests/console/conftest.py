"""Console browser tests: a real `ims serve` subprocess, the system Chromium driven by
Playwright, a signed-in page, and ``screenshot()`` writing the README's pictures.

    console     the running installation (SQLite): url, key, data_dir, http (JSON API client)
    pg_console  the same on PostgreSQL
    page        a fresh browser page (desktop size); ``page.dialogs`` lists every dialog opened
    signed_in   ``page``, signed in with the bootstrap key

Helpers (``screenshot``, ``sign_in``, ``wait_for``): tests/support/browser.py.
Chromium is Debian's ``chromium`` (``.ci/run`` installs it); Playwright never downloads one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.browser import new_page, sign_in
from tests.support.databases import empty_tables
from tests.support.procs import BOOTSTRAP_KEY, Server, ims_env
from tests.support.testdata import IMAGES

PHOTO = IMAGES / "photos" / "cardinal-2mp.jpg"


@dataclass
class Console:
    server: Server
    data_dir: Path
    env: dict
    key: str = BOOTSTRAP_KEY

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def http(self) -> httpx.Client:
        """The JSON API, with the bootstrap key."""
        return self.server.http

    def new_project(self, name: str) -> tuple[str, str]:
        """Another project (``ims project create``): (project_id, api_key)."""
        out = subprocess.run([str(Path(sys.executable).with_name("ims")), "project", "create", name], env=self.env,
                             capture_output=True, text=True, check=True).stdout
        made = json.loads(out)
        return made["project_id"], made["api_key"]

    def put_original(self, key: str) -> None:
        target = self.data_dir / "sources" / "default" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PHOTO, target)


def _serve(data_dir: Path, database_url: str) -> Console:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = ims_env(data_dir, database_url, IMS_WORKERS="1", IMS_WEBHOOK_RETRY_SCHEDULE="60")
    return Console(server=Server(env, data_dir / "serve.log"), data_dir=data_dir, env=env)


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """One `ims serve` (with a worker) on SQLite for the test module."""
    data_dir = tmp_path_factory.mktemp("console") / "var"
    c = _serve(data_dir, f"sqlite:///{data_dir}/ims.db")
    yield c
    c.server.stop()


@pytest.fixture(scope="module")
def pg_console(tmp_path_factory, pg_url):
    empty_tables(pg_url)
    c = _serve(tmp_path_factory.mktemp("pg-console") / "var", pg_url)
    yield c
    c.server.stop()


@pytest.fixture(scope="module")
def browser():
    """Per module, not per session: Playwright's sync API keeps an event loop running in this
    thread, and the async (anyio) tests of later modules cannot start theirs beside it."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium)
        yield b
        b.close()


@pytest.fixture
def page(browser, console):
    p = new_page(browser, console.url)
    yield p
    p.context.close()


@pytest.fixture
def signed_in(page, console):
    sign_in(page, console.key)
    return page
