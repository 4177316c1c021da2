"""A claimed job carries the configuration version its claim saw, and its rows are looked up as
of then without a version read of their own — yet an edit committed before the claim is seen.
On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ims.db.version import ConfigVersion, read_version
from ims.jobs import queue

pytestmark = pytest.mark.anyio
URL = "/api/processes/v1/background_processes"


def _submit(app, source_id: str) -> None:
    assert app.api("POST", URL, json={"source_id": source_id, "object_key": "a.png"}).status_code == 202


async def test_a_job_is_looked_up_as_of_its_claim(app, monkeypatch):
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    _submit(app, source["id"])
    _submit(app, source["id"])
    first, second = queue.claim(app.svc.db, 2, 30)
    with app.svc.db.read() as conn:
        assert first["config_version"] == second["config_version"] == read_version(conn)
    lookup = app.svc.lookup
    args = (first["project_id"], first["source_id"], first["destination_ids"])
    found, _ = await lookup.for_job(*args, version=first["config_version"])  # a miss: read (and kept)
    assert found["id"] == source["id"]

    reads = []
    current = ConfigVersion.current
    monkeypatch.setattr(ConfigVersion, "current", lambda self, **kw: (reads.append(1), current(self, **kw))[1])
    again, _ = await lookup.for_job(*args, version=second["config_version"])
    assert again == found and reads == []  # kept under the version the claim saw: no read

    # an edit committed before the next claim: that claim sees a newer version, and the new rows
    assert app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"cache_control": "max-age=60"}).status_code == 200
    _submit(app, source["id"])
    [third] = queue.claim(app.svc.db, 1, 30)
    assert third["config_version"] > first["config_version"]
    edited, _ = await lookup.for_job(*args, version=third["config_version"])
    assert edited["cache_control"] == "max-age=60"
