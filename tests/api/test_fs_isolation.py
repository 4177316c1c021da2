"""fs storage never reaches ims's own files, and an fs path belongs to one project (SPEC §5, §6).

On SQLite and PostgreSQL, through the management API and real jobs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import insert

from ims.config import Settings, SettingsError
from ims.db.tables import destinations
from ims.db.types import utcnow
from ims.ids import new_id
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio

JOBS = "/api/processes/v1/background_processes"


@pytest.fixture
def default_app(tmp_path, database_url):
    """An app whose fs roots are what ``Settings.from_env`` gives with no IMS_FS_ROOTS."""
    defaults = Settings.from_env({"IMS_DATA_DIR": str(tmp_path), "IMS_DATABASE_URL": database_url})
    running = start_app(app_settings(tmp_path, database_url, fs_roots=defaults.fs_roots))
    yield running
    running.close()


# --- item 2: ims's own files ------------------------------------------------------------


def test_the_default_roots_are_the_sources_and_destinations_folders(tmp_path):
    settings = Settings.from_env({"IMS_DATA_DIR": str(tmp_path)})

    assert settings.fs_roots == (tmp_path / "sources", tmp_path / "destinations")
    settings.check_fs_roots()


@pytest.mark.parametrize("path", ["DATA", "DATA/cache", "/"])
def test_a_destination_on_the_data_dir_is_refused(default_app, tmp_path, path):
    (tmp_path / "cache").mkdir(exist_ok=True)
    path = path.replace("DATA", str(tmp_path))

    reply = default_app.api("POST", "/api/v1/destinations", json={"name": "x", "kind": "fs", "bucket": "x", "path": path})
    source = default_app.api("POST", "/api/v1/sources", json={"name": "x", "kind": "fs", "path": path})

    for answer in (reply, source):
        assert answer.status_code == 400, answer.text
        assert answer.json()["errors"][0]["field"] == "path"
        assert "outside the allowed roots" in answer.text


async def test_jobs_cannot_overwrite_the_database_or_the_secret_key(tmp_path, database_url):
    """Even a destination row on the data dir (made before this check existed) writes nothing there."""
    from ims.jobs import queue
    from ims.jobs.execute import execute

    secret = tmp_path / "secret.key"
    secret.write_text("the-secret")
    app = start_app(app_settings(tmp_path, database_url, secret_key=None))
    try:
        with app.svc.db.write() as conn:
            conn.execute(insert(destinations).values(
                id=(dest_id := new_id()), project_id=app.project_id, name="evil", kind="fs", bucket="x",
                config={"path": str(tmp_path.resolve())}, credentials=None, created_at=utcnow(), updated_at=utcnow(),
            ))
        (tmp_path / "sources" / "default" / "a.png").write_bytes(_png())
        source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
        for key in ("secret.key", "ims.db"):
            reply = app.api("POST", JOBS, json={"source_id": source_id, "object_key": "a.png",
                                                "destination_object_key": key, "destination_ids": [dest_id]})
            assert reply.status_code == 202, reply.text
        claimed = queue.claim(app.svc.db, 2, 30)
        assert len(claimed) == 2
        for job in claimed:
            outcome = await execute(app.svc, job)
            assert outcome.error is not None and "ims's own files" in outcome.error.message
    finally:
        app.close()

    assert secret.read_text() == "the-secret"
    if database_url.startswith("sqlite"):
        assert (tmp_path / "ims.db").read_bytes()[:16] == b"SQLite format 3\x00"
    assert not [p for p in tmp_path.iterdir() if p.is_file() and p.read_bytes()[:4] == b"\x89PNG"]


@pytest.mark.parametrize(
    ("roots", "words"),
    [
        ("{d}", "the root '{d}' contains ims's own file '{d}/secret.key'"),
        ("{d}/sources:{d}/sources/..", "the root '{d}/sources/..' contains ims's own file"),
        ("{d}/cache/thumbs", "the root '{d}/cache/thumbs' lies inside ims's own '{d}/cache'"),
        ("/", "the root '/' contains ims's own file"),
    ],
)
def test_a_root_holding_ims_own_files_is_refused_at_start(tmp_path, roots, words):
    d = str(tmp_path.resolve())
    settings = Settings.from_env({"IMS_DATA_DIR": d, "IMS_FS_ROOTS": roots.format(d=d)})

    with pytest.raises(SettingsError) as error:
        settings.check_fs_roots()
    assert str(error.value).startswith("IMS_FS_ROOTS: ")
    assert words.format(d=d) in str(error.value)


def test_a_root_holding_the_configured_sqlite_file_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path}/images/ims.db",
                        fs_roots=(tmp_path / "images",))

    with pytest.raises(SettingsError, match="ims.db"):
        settings.check_fs_roots()


def test_the_cli_exits_with_the_message(tmp_path):
    env = {**os.environ, "IMS_DATA_DIR": str(tmp_path), "IMS_FS_ROOTS": str(tmp_path)}
    env.pop("IMS_DATABASE_URL", None)

    done = subprocess.run([sys.executable, "-m", "ims.cli", "migrate"], env=env, capture_output=True, text=True,
                          timeout=60)

    assert done.returncode == 2, done
    assert f"IMS_FS_ROOTS: the root '{tmp_path}' contains ims's own file" in done.stderr
    assert not (tmp_path / "ims.db").exists()


# --- item 9: symlinks below an fs source, on demand --------------------------------------


def test_symlinks_in_an_fs_source_answer_404_never_the_outside_file(app, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.png").write_bytes(_png())
    folder = app.svc.settings.data_dir / "sources" / "default"
    (folder / "link.png").symlink_to(outside / "secret.png")
    (folder / "dir").symlink_to(outside, target_is_directory=True)
    (folder / "loop").symlink_to(folder / "loop")

    for key in ("link.png", "dir/secret.png", "loop", "loop/a.png", "x" * 300 + ".png"):
        reply = app.client.get(f"/default/{key}?w=4")
        assert reply.status_code == 404, (key, reply.status_code, reply.text)


# --- item 3: one project per fs path ----------------------------------------------------


def _other_key(app) -> str:
    from ims.manage.keys import create_project

    with app.svc.db.write() as conn:
        _, key = create_project(conn, "other")
    return key


def _folder(app, *parts):
    path = app.svc.settings.data_dir.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


@pytest.mark.parametrize("kind", ["sources", "destinations"])
@pytest.mark.parametrize(
    ("where", "relation"),
    [
        (("sources", "default"), "is the folder of another project's fs source"),
        (("sources", "default", "inner"), "is inside the folder of another project's fs source"),
        (("sources",), "contains the folder of another project's fs source"),
        (("destinations", "default"), "is the folder of another project's fs destination"),
        (("destinations", "default", "inner"), "is inside the folder of another project's fs destination"),
        (("destinations",), "contains the folder of another project's fs destination"),
    ],
)
def test_another_projects_fs_path_is_a_409(app, kind, where, relation):
    other = _other_key(app)
    body = {"name": "mine", "kind": "fs", "path": _folder(app, *where), "bucket": "b"}
    if kind == "sources":
        body.pop("bucket")

    reply = app.api("POST", f"/api/v1/{kind}", json=body, key=other)

    assert reply.status_code == 409, reply.text
    assert reply.json()["errors"][0]["field"] == "path"
    assert relation in reply.json()["message"]
    assert app.api("GET", f"/api/v1/{kind}", key=other).json()["response"]["items"] == []


@pytest.mark.parametrize("kind", ["sources", "destinations"])
def test_patching_onto_another_projects_path_is_a_409(app, kind):
    other = _other_key(app)
    body = {"name": "mine", "kind": "fs", "path": _folder(app, kind, "b-own"), **({"bucket": "b"} if kind == "destinations" else {})}
    created = app.api("POST", f"/api/v1/{kind}", json=body, key=other)
    assert created.status_code == 201, created.text

    moved = app.api("PATCH", f"/api/v1/{kind}/{created.json()['response']['id']}",
                    json={"path": _folder(app, kind, "default")}, key=other)

    assert moved.status_code == 409, moved.text
    assert moved.json()["errors"][0]["field"] == "path"


def test_one_project_may_read_and_write_one_folder_and_nest_its_own_paths(app):
    shared = _folder(app, "sources", "shared")

    assert app.api("POST", "/api/v1/sources", json={"name": "s1", "kind": "fs", "path": shared}).status_code == 201
    assert app.api("POST", "/api/v1/destinations", json={"name": "d1", "kind": "fs", "bucket": "b",
                                                         "path": shared}).status_code == 201
    assert app.api("POST", "/api/v1/sources", json={"name": "s2", "kind": "fs",
                                                    "path": _folder(app, "sources")}).status_code == 201


def test_the_bootstrap_folders_stay_the_default_projects(app):
    other = _other_key(app)
    for kind in ("sources", "destinations"):
        for item in app.api("GET", f"/api/v1/{kind}").json()["response"]["items"]:
            assert app.api("DELETE", f"/api/v1/{kind}/{item['id']}").status_code == 200

    source = app.api("POST", "/api/v1/sources", json={"name": "mine", "kind": "fs",
                                                      "path": _folder(app, "sources", "default")}, key=other)
    dest = app.api("POST", "/api/v1/destinations", json={"name": "mine", "kind": "fs", "bucket": "b",
                                                         "path": _folder(app, "destinations", "default", "x")}, key=other)

    assert source.status_code == 409 and dest.status_code == 409, (source.text, dest.text)
    back = app.api("POST", "/api/v1/sources", json={"name": "again", "kind": "fs",
                                                    "path": _folder(app, "sources", "default")})
    assert back.status_code == 201, back.text


def test_two_projects_claiming_one_folder_at_once_get_one_owner(app):
    keys = {"default": app.key, "other": _other_key(app)}
    folder = _folder(app, "destinations", "contested")
    start = threading.Barrier(8)
    answers: list[tuple[str, int]] = []

    def claim(owner: str, n: int) -> None:
        start.wait()
        reply = app.api("POST", "/api/v1/destinations", key=keys[owner],
                        json={"name": f"c{n}", "kind": "fs", "bucket": "b", "path": folder})
        answers.append((owner, reply.status_code))

    threads = [threading.Thread(target=claim, args=(owner, n)) for n in range(4) for owner in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = {owner for owner, status in answers if status == 201}
    assert len(winners) == 1, answers
    assert sorted(status for _, status in answers) == [201] * 4 + [409] * 4, answers


def _png() -> bytes:
    import pyvips

    return pyvips.Image.black(8, 8).pngsave_buffer()


def test_the_test_apps_use_the_default_layout(tmp_path):
    settings = app_settings(tmp_path, f"sqlite:///{tmp_path}/ims.db")

    assert settings.fs_roots == Settings.from_env({"IMS_DATA_DIR": str(tmp_path)}).fs_roots
    settings.check_fs_roots()
