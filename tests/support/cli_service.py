"""`ims jobs …` against a real `ims serve` (SQLite): the service, its data dir, the command."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image

from tests.support.cli import run
from tests.support.procs import BOOTSTRAP_KEY, Server, ims_env
from tests.support.testdata import IMAGES

PHOTO = IMAGES / "photos" / "cardinal-2mp.jpg"  # 1920×1080
JOBS = "/api/processes/v1/background_processes"
ID = re.compile(r"[0-9a-f]{24}")


class Service:
    """One `ims serve` with workers, its data dir and an `ims jobs` that talks to it."""

    def __init__(self, data_dir: Path, workers: int = 2) -> None:
        self.data_dir = data_dir
        self.env = ims_env(data_dir, f"sqlite:///{data_dir}/ims.db", IMS_WORKERS=str(workers))
        self.server = Server(self.env, data_dir.parent / f"serve-{data_dir.name}.log")
        self.client_env = {**self.env, "IMS_URL": self.server.url, "IMS_API_KEY": BOOTSTRAP_KEY}

    def jobs(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
        return run("jobs", *args, env={**self.client_env, **extra_env}, timeout=120)

    def original(self, key: str, source: Path = PHOTO) -> None:
        path = self.data_dir / "sources" / "default" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)

    def made(self, key: str) -> Path:
        return self.data_dir / "destinations" / "default" / key

    def job(self, job_id: str) -> dict:
        return self.server.http.get(f"{JOBS}/{job_id}").json()["response"]

    def job_count(self) -> int:
        return len(self.server.http.get(JOBS, params={"limit": 100}).json()["response"]["items"])


def size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size
