"""Helpers for the on-demand image route tests (SPEC §2), driven through the real HTTP app.

``kit`` bundles the small things every test needs: write an image into a source
directory, create a source through the management API, decode a reply with
pyvips, and check the JSON error envelope.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pyvips

from tests.support.app import RunningApp, app_settings, start_app
from tests.support.testdata import IMAGES as TESTDATA


class Kit:
    testdata = TESTDATA

    @staticmethod
    def default_dir(app: RunningApp) -> Path:
        """The directory of the bootstrap ``default`` fs source (public)."""
        return app.svc.settings.data_dir / "sources" / "default"

    @staticmethod
    def image(width: int, height: int, colour=(200, 40, 40), *, alpha: bool = False,
              suffix: str = ".png") -> bytes:
        """A flat-coloured synthetic image encoded as ``suffix`` (.png, .jpg, .webp …)."""
        bands = [*colour, 255] if alpha else list(colour)
        image = (pyvips.Image.black(width, height, bands=len(bands)) + bands).cast("uchar")
        if alpha:
            image = image.copy(interpretation="srgb")
        return image.write_to_buffer(suffix)

    @staticmethod
    def put(directory: Path, key: str, data: bytes) -> Path:
        path = directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    @staticmethod
    def rewrite(path: Path, data: bytes) -> None:
        """Replace a file's content in place, the way an editor saving over it would.

        The mtime is pushed forward explicitly so the change is visible even on a
        file system with coarse timestamps.
        """
        before = path.stat().st_mtime_ns
        path.write_bytes(data)
        later = max(path.stat().st_mtime_ns, before + 1_000_000_000)
        os.utime(path, ns=(later, later))

    @staticmethod
    def decode(reply) -> pyvips.Image:
        """The reply body as an image; fails the test if it is not one."""
        assert reply.status_code == 200, reply.text[:500]
        return pyvips.Image.new_from_buffer(reply.content, "")

    @staticmethod
    def loader(image: pyvips.Image) -> str:
        return image.get("vips-loader")

    @staticmethod
    def pixel(image: pyvips.Image, x: int, y: int) -> list[float]:
        return list(image(x, y))

    @staticmethod
    def error(reply, status: int, field: str | None = ..., words: str | None = None) -> dict:
        """Assert ``reply`` is the JSON error envelope with ``status`` (and ``field``/``words``)."""
        assert reply.status_code == status, f"{reply.status_code}: {reply.text[:500]}"
        assert reply.headers["content-type"].startswith("application/json"), reply.headers
        body = reply.json()
        assert set(body) == {"status_code", "message", "errors"}, body
        assert body["status_code"] == status
        assert isinstance(body["message"], str) and body["message"]
        assert body["errors"] and all(set(e) == {"field", "message"} for e in body["errors"]), body
        if field is not ...:
            assert field in [e["field"] for e in body["errors"]], body
        if words is not None:
            assert words.lower() in body["message"].lower(), body
        return body

    @staticmethod
    def create_source(app: RunningApp, **body) -> dict:
        """Create a source through the management API; returns it (with ``signing_key``)."""
        reply = app.api("POST", "/api/v1/sources", json=body)
        assert reply.status_code == 201, reply.text
        return reply.json()["response"]

    @staticmethod
    def fs_source(app: RunningApp, name: str, **options) -> tuple[dict, Path]:
        """A new fs source in its own directory under the data dir; (source, directory)."""
        directory = app.svc.settings.data_dir / "sources" / name
        directory.mkdir(parents=True, exist_ok=True)
        source = Kit.create_source(app, name=name, kind="fs", path=str(directory), **options)
        return source, directory

    @staticmethod
    def other_project_key(app: RunningApp) -> str:
        """The API key of a second project on the same installation."""
        from ims.manage.keys import create_project

        with app.svc.db.write() as conn:
            _, key = create_project(conn, "other")
        return key


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def make_app(tmp_path, database_url):
    """Start an app with settings overrides (``cache_size_mb=0``, ``limits=…``); closed after the test."""
    started: list[RunningApp] = []

    def make(**overrides) -> RunningApp:
        running = start_app(app_settings(tmp_path, database_url, **overrides))
        started.append(running)
        return running

    yield make
    for running in started:
        running.close()


@pytest.fixture
def make_sqlite_app(tmp_path):
    """Like ``make_app`` on SQLite only: for tests about pixels, where the database plays no part."""
    started: list[RunningApp] = []

    def make(**overrides) -> RunningApp:
        running = start_app(app_settings(tmp_path, f"sqlite:///{tmp_path}/ims.db", **overrides))
        started.append(running)
        return running

    yield make
    for running in started:
        running.close()


@pytest.fixture
def sqlite_app(make_sqlite_app) -> RunningApp:
    return make_sqlite_app()
