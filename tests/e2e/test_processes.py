"""`ims serve` with IMS_PROCESSES=2 (or --processes 2): two server processes accept on one
port and share the data dir's result cache — a rendition one of them made is a hit in both."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
URL = "/default/photo.jpg?w=200"


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_two_server_processes_share_one_port_and_one_cache(stack):
    stack.put_original("photo.jpg")
    server = stack.serve(IMS_PROCESSES="2", IMS_CACHE_SIZE_MB="64")
    assert "ims: 2 server processes on 127.0.0.1" in server.output()
    # uvicorn's supervisor spawns the two (multiprocessing's spawn, each with ims's pixel children)
    spawned = [c for c in children(server.proc.pid) if "spawn_main" in command(c)]
    assert len(spawned) == 2, [command(c) for c in children(server.proc.pid)]
    first = server.http.get(URL)
    assert first.status_code == 200 and first.headers["x-ims-cache"] == "miss", stack.logs()
    replies = [server.http.get(URL, headers={"connection": "close"}) for _ in range(20)]  # new connections
    assert all(r.status_code == 200 and r.headers["x-ims-cache"] == "hit" for r in replies)
    assert {r.content for r in replies} == {first.content}
    assert server.stop() == 0
    assert not [p for p in spawned if Path(f"/proc/{p}").exists()]


def test_the_server_processes_stop_when_the_supervisor_is_killed(stack):
    server = stack.serve(IMS_PROCESSES="2")
    spawned = [c for c in children(server.proc.pid) if "spawn_main" in command(c)]
    assert len(spawned) == 2
    server.kill()  # SIGKILL: uvicorn's supervisor cannot stop them itself
    deadline = time.monotonic() + 30
    while [p for p in spawned if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in spawned if alive(p)]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_bad_processes_value_is_refused_at_start(stack):
    from tests.support.procs import ImsProcess

    proc = ImsProcess(("serve", "--processes", "0"), stack.env(), stack.data_dir / "bad.log")
    assert proc.proc.wait(30) == 2
    assert "--processes: must be an integer from 1 to 256, got '0'" in proc.output()
    proc = ImsProcess("serve", stack.env(IMS_PROCESSES="many"), stack.data_dir / "bad2.log")
    assert proc.proc.wait(30) == 2
    assert "IMS_PROCESSES must be an integer" in proc.output()
