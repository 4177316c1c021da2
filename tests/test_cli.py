"""The `ims` command line, each command a real subprocess (issue 10 item 4):
--version, serve --host/--port/--help, keys create, migrate."""

from __future__ import annotations

import json
import re
import socket
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from ims.db import Database
from ims.db.engine import MIGRATIONS
from tests.support.cli import Started, run
from tests.support.procs import BOOTSTRAP_KEY, free_port, ims_env

CONFIG_SOURCE = Path(__file__).resolve().parents[1] / "ims" / "config.py"


def _head() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return ims_env(tmp_path / "var", database_url, IMS_WORKERS="0", **extra)


def test_version_comes_from_the_package_metadata(tmp_path):
    done = run("--version", env=_env(tmp_path, f"sqlite:///{tmp_path}/ims.db"))

    assert done.returncode == 0, done
    assert done.stdout.strip() == f"ims {version('ims')}"


def test_serve_help_lists_every_setting_config_reads_one_line_each(tmp_path):
    done = run("serve", "--help", env=_env(tmp_path, f"sqlite:///{tmp_path}/ims.db"))

    assert done.returncode == 0, done
    read = sorted(set(re.findall(r'"(IMS_[A-Z_]+)"', CONFIG_SOURCE.read_text())))
    assert len(read) >= 15  # the pattern still finds what config.py reads
    lines = done.stdout.splitlines()
    for name in read:
        rows = [line for line in lines if line.split()[:1] == [name]]
        assert len(rows) == 1, f"{name}: {rows}"
        assert "[default: " in rows[0], rows[0]
    assert "[default: 8080]" in next(line for line in lines if line.split()[:1] == ["IMS_PORT"])
    for option in ("--host", "--port", "--dev"):
        assert option in done.stdout


def test_a_bad_port_option_is_refused_naming_it(tmp_path):
    done = run("serve", "--port", "70000", env=_env(tmp_path, f"sqlite:///{tmp_path}/ims.db"))

    assert done.returncode == 2
    assert "--port: must be an integer from 0 to 65535, got '70000'" in done.stderr


# -- migrate --------------------------------------------------------------------------------------


def _migrate_twice(tmp_path: Path, url: str) -> None:
    env = _env(tmp_path, url)
    first, second = run("migrate", env=env), run("migrate", env=env)

    assert first.returncode == 0 and second.returncode == 0, (first, second)
    assert first.stdout.strip() == f"ims: created schema {_head()}"
    assert second.stdout.strip() == f"ims: up to date at {_head()}"


def test_migrate_says_it_created_the_schema_then_that_it_is_up_to_date_on_sqlite(tmp_path):
    _migrate_twice(tmp_path, f"sqlite:///{tmp_path}/ims.db")


def test_migrate_says_it_created_the_schema_then_that_it_is_up_to_date_on_postgresql(tmp_path, postgres):
    _migrate_twice(tmp_path, postgres.create_database())


def test_migrate_names_the_revisions_it_upgraded_between(tmp_path):
    url = f"sqlite:///{tmp_path}/ims.db"
    script = ScriptDirectory(str(MIGRATIONS))
    previous = script.get_revision(_head()).down_revision
    db = Database(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, previous)
        conn.commit()
    db.dispose()

    done = run("migrate", env=_env(tmp_path, url))

    assert done.returncode == 0, done
    assert done.stdout.strip() == f"ims: upgraded {previous} → {_head()}"


# -- keys create ----------------------------------------------------------------------------------


def test_keys_create_prints_a_key_that_works_against_a_running_serve(tmp_path, database_url):
    """On SQLite and PostgreSQL; `serve --host/--port` win over IMS_HOST/IMS_PORT."""
    port, unused = free_port(), free_port()
    env = _env(tmp_path, database_url, IMS_HOST="127.0.0.2", IMS_PORT=str(unused))
    server = Started("serve", "--host", "127.0.0.1", "--port", str(port), env=env, log=tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_ready(url)
        with pytest.raises(ConnectionRefusedError):  # IMS_PORT was overridden: nothing listens there
            socket.create_connection(("127.0.0.1", unused), timeout=5).close()

        done = run("keys", "create", env=env)  # --project default
        assert done.returncode == 0, done
        created = json.loads(done.stdout)
        assert set(created) == {"project_id", "key_id", "name", "api_key"} and created["name"] == "cli"
        assert created["api_key"].startswith("ims_") and created["api_key"] != BOOTSTRAP_KEY
        assert len(done.stdout.strip().splitlines()) == 1

        with httpx.Client(base_url=url, timeout=30) as http:
            mine = http.get("/api/v1/api_keys", headers={"x-api-key": created["api_key"]})
            assert mine.status_code == 200, mine.text
            listed = {k["id"]: k for k in mine.json()["response"]["items"]}
            assert created["key_id"] in listed  # a key of the default project: the bootstrap key's
            bootstrap_keys = http.get("/api/v1/api_keys", headers={"x-api-key": BOOTSTRAP_KEY}).json()
            assert {k["id"] for k in bootstrap_keys["response"]["items"]} == set(listed)

            other = json.loads(run("project", "create", "acme", env=env).stdout)
            done = run("keys", "create", "--project", other["project_id"], "--name", "spare", env=env)
            assert done.returncode == 0, done
            spare = json.loads(done.stdout)
            assert spare["project_id"] == other["project_id"] and spare["name"] == "spare"
            theirs = http.get("/api/v1/api_keys", headers={"x-api-key": spare["api_key"]})
            assert theirs.status_code == 200, theirs.text
            assert spare["key_id"] in {k["id"] for k in theirs.json()["response"]["items"]}
            assert created["key_id"] not in {k["id"] for k in theirs.json()["response"]["items"]}
    finally:
        server.stop()


def test_keys_create_for_an_unknown_project_fails_with_the_reason(tmp_path, database_url):
    env = _env(tmp_path, database_url)

    done = run("keys", "create", "--project", "0123456789abcdef01234567", env=env)
    assert done.returncode == 1, done
    assert "no project with id '0123456789abcdef01234567'" in done.stderr and done.stdout == ""

    done = run("keys", "create", "--project", "acme", env=env)
    assert done.returncode == 1, done
    assert "--project takes a project id or 'default'" in done.stderr

    done = run("keys", "create", env=env)  # nothing has started yet: no default project
    assert done.returncode == 1, done
    assert "there is no default project yet: `ims serve` creates it on its first start" in done.stderr
