"""`ims serve` gives back the memory a zTXt bomb costs (issue 9 item 6), measured on the real process."""

from __future__ import annotations

import pytest

from tests.support.hostile import ztxt_bomb
from tests.support.procs import Server, ims_env

pytestmark = pytest.mark.slow


def _rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))


def test_serve_rss_stays_flat_over_twenty_bomb_requests(tmp_path):
    data_dir = tmp_path / "var"
    (data_dir / "sources" / "default").mkdir(parents=True)
    (data_dir / "sources" / "default" / "bomb.png").write_bytes(ztxt_bomb(50, 10))
    server = Server(ims_env(data_dir, f"sqlite:///{tmp_path}/ims.db", IMS_WORKERS="0"), tmp_path / "serve.log")
    try:
        # the baseline is taken after one request of the bomb, so the pixel threads, libvips'
        # pools and the app's first-request allocations are already there
        assert server.http.get("/default/bomb.png?w=3").status_code == 200
        start = _rss_mb(server.proc.pid)
        seen = []
        for i in range(20):
            reply = server.http.get(f"/default/bomb.png?w={4 + i}")   # distinct: no cache, no coalescing
            assert reply.status_code == 200, reply.text
            seen.append(_rss_mb(server.proc.pid))
            if seen[-1] > start + 1500:
                break          # the old code: give up before the machine runs out of memory
        assert len(seen) == 20 and seen[-1] - start < 100, (start, seen)
    finally:
        server.stop()
