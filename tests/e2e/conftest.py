"""A whole ims installation per test: data dir, database, receiver, SeaweedFS bucket."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.databases import empty_tables
from tests.support.procs import ImsProcess, Server, ims_env
from tests.support.receiver import Receiver

from tests.support.testdata import IMAGES
PHOTO = IMAGES / "photos" / "cardinal-2mp.jpg"


@dataclass
class Stack:
    data_dir: Path
    database_url: str
    seaweed: object
    receiver: Receiver
    env_extra: dict = field(default_factory=dict)
    procs: list = field(default_factory=list)

    def env(self, **extra) -> dict:
        return ims_env(self.data_dir, self.database_url, **{**self.env_extra, **extra})

    def serve(self, workers: int = 0, **extra) -> Server:
        server = Server(self.env(IMS_WORKERS=str(workers), **extra), self.data_dir / f"serve-{len(self.procs)}.log")
        self.procs.append(server)
        return server

    def worker(self, workers: int = 2, **extra) -> ImsProcess:
        proc = ImsProcess("worker", self.env(IMS_WORKERS=str(workers), **extra),
                          self.data_dir / f"worker-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def put_original(self, key: str, source: Path = PHOTO) -> Path:
        path = self.data_dir / "sources" / "default" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        return path

    def s3_bucket(self) -> str:
        name = "ims-e2e-" + secrets.token_hex(4)
        self.seaweed.create_bucket(name)
        return name

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.output()[-4000:]}" for p in self.procs)


def _stack(tmp_path, database_url, seaweed):
    receiver = Receiver().start()
    (tmp_path / "var").mkdir()
    s = Stack(data_dir=tmp_path / "var", database_url=database_url, seaweed=seaweed, receiver=receiver)
    yield s
    for proc in s.procs:
        proc.kill()
    receiver.stop()


@pytest.fixture
def stack(tmp_path, database_url, seaweed):
    """On SQLite and on PostgreSQL."""
    yield from _stack(tmp_path, database_url, seaweed)


@pytest.fixture
def pg_stack(tmp_path, pg_url, seaweed):
    """PostgreSQL only: the scale-out deployment (many processes on one database)."""
    empty_tables(pg_url)
    yield from _stack(tmp_path, pg_url, seaweed)
